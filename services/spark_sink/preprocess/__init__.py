"""Spark batch preprocessing: raw trip files of every era in S3 -> normalised, partitioned Parquet in S3.

`python -m services.spark_sink.preprocess --help`; the producer replays the Parquet it writes
(`services/producer/parquet_source.py`) as it replays CSV: the same events, ids and order.
"""
