"""The only place SQL is written: engine, tables, migrations, audit log, look-ups."""
