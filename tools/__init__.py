"""Testers' tools (not services): `python -m tools.replay` copies, captures, restores, resets and inspects topics."""
