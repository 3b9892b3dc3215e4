"""Alembic environment: the URL and engine come from comms' settings, never from alembic.ini.

`render_as_batch` lets migrations alter SQLite tables (copy-and-move), which has almost no ALTER.
"""

from alembic import context
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
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
