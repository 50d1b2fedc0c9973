"""hasteCRM AI platform shared kernel: settings, database schema and the ``haste`` CLI."""
