"""The project's common package: settings base, event types, topic names, schema migrations.

Nothing here connects to anything or runs on import; services import it and build their own clients.
"""
