"""Alembic migrations of the hasteCRM database (see :mod:`haste.db.migrate`)."""
