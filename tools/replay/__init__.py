"""`python -m tools.replay`: replay any slice of any topic, capture and restore runs, reset consumers, inspect.

Subcommands live in small modules: `copy`, `capture` / `restore` (file format in `capture_format`),
`reset`, `inspect`; `common` holds the exit codes, time parsing, Kafka clients and the progress line.
"""
