"""Alembic environment: the URL and engine come from comms' settings, never from alembic.ini.

`render_as_batch` lets migrations alter SQLite tables (copy-and-move), which has almost no ALTER.
"""

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import comms.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from comms.store.db import get_engine

        url = config.get_main_option("sqlalchemy.url")
        if url is None:
            raise RuntimeError("the alembic config names no sqlalchemy.url")
        engine = get_engine(url)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _foreign_keys(connection, enforced=False)
        try:
            # One transaction for the version read and every migration, begun here: alembic runs
            # SQLite's migrations (no transactional DDL, to its mind) each committed on its own,
            # after reading the version outside any lock, so two upgrades at once both applied
            # the next one. Begun by us, the transaction is SQLite's BEGIN IMMEDIATE (db.py):
            # the second upgrade waits, then reads the version the first left.
            with connection.begin():
                if not sqlite:
                    # the same on PostgreSQL: one migrator at a time, hosts that all run
                    # `comms db upgrade` as their daemons start
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                context.configure(
                    connection=connection, target_metadata=target_metadata, render_as_batch=True
                )
                context.run_migrations()
                if sqlite:
                    _check_foreign_keys(connection)
        finally:
            if sqlite:
                _foreign_keys(connection, enforced=True)


# any constant shared by every comms; pg_advisory_xact_lock frees it when the transaction ends
MIGRATION_LOCK = 0x636F6D6D73  # "comms"


def _foreign_keys(connection: Connection, *, enforced: bool) -> None:
    """Switch SQLite's foreign key enforcement, which only works outside a transaction.

    A batch migration recreates a table (copy, drop, rename); with enforcement on, dropping a
    table that other rows point at fails, so SQLite's documented procedure for altering a table
    turns enforcement off for the migration and checks the keys once at its end instead. The raw
    connection is used because a statement through SQLAlchemy would begin a transaction first.
    """
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration left rows pointing at nothing: {broken[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
