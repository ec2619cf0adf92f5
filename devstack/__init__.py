"""The local stack for the demo and the tests: real Kafka (KRaft), PostgreSQL and SeaweedFS S3 on
127.0.0.1, each started as a child process with a readiness check, and the four services beside them.

Not part of any service: `./dev` (bash) installs what is needed, then runs `python -m devstack`.
"""
