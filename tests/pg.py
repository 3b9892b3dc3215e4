"""A fresh, isolated PostgreSQL database per test, on the server CI starts at 127.0.0.1:5432.

The server is found by `$COMMS_TEST_PG_URL` (a SQLAlchemy URL of a database the user may connect
to and create databases from), else `postgresql+psycopg://<user>@127.0.0.1:5432/test` for the
first of the users `postgres`, `root` and `$USER` that trust auth lets in. Each test gets its own
database `comms_t_<random>`, dropped afterwards (`WITH (FORCE)`, so a daemon left connected cannot
keep it alive), so tests may run in parallel and never see each other's rows.

When no server answers: under `CI=true` the test FAILS (CI promises a server: `.ci/run` starts
it); elsewhere it is skipped with a reason that says what to start.

Use it as a fixture (`from tests.pg import pg_url` in a test module), or call `fresh_database()`.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

ENV_URL = "COMMS_TEST_PG_URL"
HOST, PORT, DATABASE = "127.0.0.1", 5432, "test"
HOW_TO_START = (
    "start it with `.ci/run`, or `pg_ctlcluster <version> main start`, "
    f"or point ${ENV_URL} at a server (trust auth, a user that may create databases)"
)


def _candidates() -> list[str]:
    if os.environ.get(ENV_URL):
        return [os.environ[ENV_URL]]
    users = ["postgres", "root"]
    with contextlib.suppress(Exception):  # no user name in this environment
        users.append(getpass.getuser())
    return [
        f"postgresql+psycopg://{user}@{HOST}:{PORT}/{DATABASE}"
        for user in dict.fromkeys(users)  # ordered, no duplicates
    ]


def _libpq(url: URL) -> dict:
    return {
        "host": url.host or HOST,
        "port": url.port or PORT,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
        "connect_timeout": 3,
    }


@cache
def server_url() -> str | None:
    """The admin URL of a reachable server whose user may create databases, or None."""
    import psycopg

    for candidate in _candidates():
        url = make_url(candidate)
        try:
            with psycopg.connect(**_libpq(url)) as conn:
                row = conn.execute(
                    "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
                ).fetchone()
                if row and row[0]:
                    return candidate
        except psycopg.Error:
            continue
    return None


def unreachable_reason() -> str:
    tried = ", ".join(make_url(u).render_as_string(hide_password=True) for u in _candidates())
    return f"!!! no PostgreSQL server reachable (tried {tried}): {HOW_TO_START}"


def require_server() -> str:
    """The admin URL; fail under CI=true, else skip loudly, when there is no server."""
    url = server_url()
    if url is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {unreachable_reason()}", pytrace=False)
        pytest.skip(unreachable_reason())
    return url


def _admin(admin_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(**_libpq(make_url(admin_url)), autocommit=True) as conn:
        conn.execute(sql)


def create_database(admin_url: str, prefix: str = "comms_t") -> str:
    """Create an empty database next to `admin_url`'s and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    """Drop the database behind `url`, disconnecting whoever is still in it."""
    from comms.store.db import dispose_all

    dispose_all()  # our own pooled connections first
    name = make_url(url).database
    _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(prefix: str = "comms_t") -> Iterator[str]:
    """A new empty database for the duration of the block (skips or fails with no server)."""
    admin_url = require_server()
    url = create_database(admin_url, prefix)
    try:
        yield url
    finally:
        drop_database(admin_url, url)


@contextmanager
def empty_database(backend: str, folder: Path) -> Iterator[str]:
    """A new empty database on `backend`: a SQLite file in `folder`, or a fresh PostgreSQL one."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'comms.db'}"
    else:
        with fresh_database() as url:
            yield url


BACKENDS = ["sqlite", "postgresql"]  # the fixture params of a test run on both


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    with fresh_database() as url:
        yield url
