"""The four services of the pipeline: producer, enricher, spark_sink, web."""
