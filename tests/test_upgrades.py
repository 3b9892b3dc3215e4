"""Upgrades over data: a database at every earlier schema revision, filled with rows in every
table that revision has, brought to the newest schema on SQLite and PostgreSQL. Every value
survives with its meaning, the newest code reads every row, and the downgrade back gives the
rows back. The rows are made from the reflected tables, so a new migration is covered the day it
lands, without a test of its own having to remember the tables before it.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlmodel import Session, SQLModel, select

from comms.store.db import (
    MIGRATIONS_DIR,
    dispose_all,
    downgrade,
    get_engine,
    head_revision,
    upgrade,
)
from comms.store.models import ALL_STATES, Post, PostState
from tests.pg import empty_database

ROWS = 12  # per table: every post state, and some NULLs in every nullable column
START = datetime(2027, 1, 14, 9, 0, tzinfo=UTC)
# values that carry meaning; any other column gets a value made from its type
MEANINGFUL: dict[str, list[Any]] = {
    "state": list(ALL_STATES),  # narrowed to the revision's own states by fill()
    "source": ["plan", "import"],
    "channel": ["facebook", "hjemmeside", "x", "linkedin"],
    "role": ["officer", "approver", "admin"],
    "organisation": ["aalborg-kommune", "nordjyllands-politi", "region-nordjylland"],
    "text": ["Husk refleksen i mørket 🚲 #TrygAalborg – læs mere på https://tryg.aalborg.dk"],
    "campaign": ["refleks", "karneval", "blaa-mandag"],
}


# PostgreSQL's cases take seconds each: the slow tier runs them
BACKENDS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.slow)]


# states a migration brought in: rows of an older schema never hold them (the downgrade of 0008
# turns held posts into failed ones, since the code of before knows no `held`)
STATE_SINCE = {PostState.HELD: "0008"}


def states_at(revision: str) -> list[str]:
    order = [*reversed(revisions_before_head()), head_revision()]
    return [
        state
        for state in ALL_STATES
        if state not in STATE_SINCE or order.index(STATE_SINCE[state]) <= order.index(revision)
    ]


def revisions_before_head() -> list[str]:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return [r.revision for r in script.walk_revisions() if r.revision != script.get_current_head()]


def reflect(url: str) -> sa.MetaData:
    metadata = sa.MetaData()
    metadata.reflect(get_engine(url))
    return metadata


def _unique_columns(table: sa.Table) -> set[str]:
    columns = {c.name for c in table.columns if c.unique}
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint):
            columns |= {c.name for c in constraint.columns}
    for index in table.indexes:
        if index.unique:
            columns |= {c.name for c in index.columns}
    return columns


def _value(column: sa.Column, n: int, unique: bool, parents: dict[str, list[Any]]) -> Any:
    for fk in column.foreign_keys:
        if fk.column.table is column.table:  # a row pointing at another of its table
            return None if column.nullable else n + 1
        ids = parents[fk.column.table.name]
        return ids[n % len(ids)]
    if column.nullable and not column.primary_key and not unique and n % 4 == 3:
        return None
    kind = column.type
    if column.name in MEANINGFUL and isinstance(kind, sa.String):
        choices = MEANINGFUL[column.name]
        value = choices[n % len(choices)]
        return f"{value}-{n}" if unique else value
    if isinstance(kind, sa.Boolean):
        return n % 2 == 1
    if isinstance(kind, sa.DateTime):
        return START + timedelta(hours=n, microseconds=n)
    if isinstance(kind, sa.Date):
        return date(2027, 1, 1) + timedelta(days=n)
    if isinstance(kind, sa.Integer):
        return n + 1 if (unique or column.primary_key) else n * 1_000 + 7
    if isinstance(kind, sa.String | sa.Text):
        limit = getattr(kind, "length", None) or 200
        return f"{column.name} {n} æøå ÆØÅ"[:limit] if not unique else f"{column.name}-{n}"[:limit]
    if isinstance(kind, sa.Float | sa.Numeric):
        return n + 0.5
    raise AssertionError(f"no value for {column.table.name}.{column.name} of type {kind!r}")


def fill(url: str, revision: str) -> dict[str, list[dict[str, Any]]]:
    """ROWS rows in every table of the database's schema, parents before children."""
    MEANINGFUL["state"] = states_at(revision)
    metadata = reflect(url)
    written: dict[str, list[dict[str, Any]]] = {}
    parents: dict[str, list[Any]] = {}
    sqlite = url.startswith("sqlite")
    with get_engine(url).begin() as connection:
        for table in metadata.sorted_tables:
            if table.name == "alembic_version":
                continue
            unique = _unique_columns(table)
            rows = [
                {
                    c.name: _value(c, n, c.name in unique or c.primary_key, parents)
                    for c in table.columns
                }
                for n in range(ROWS)
            ]
            # SQLite's reflected DATETIME keeps no zone: comms stores UTC there without one
            stored_rows = [
                {
                    k: v.replace(tzinfo=None) if sqlite and isinstance(v, datetime) else v
                    for k, v in row.items()
                }
                for row in rows
            ]
            connection.execute(table.insert(), stored_rows)
            written[table.name] = rows
            key = table.primary_key.columns.values()[0].name
            parents[table.name] = [row[key] for row in rows]
    if not sqlite:  # the ids were given, so move the sequences past them
        with get_engine(url).begin() as connection:
            for table in metadata.sorted_tables:
                for column in table.primary_key.columns:
                    if isinstance(column.type, sa.Integer) and column.autoincrement is not False:
                        sequence = connection.execute(
                            sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                            {"t": table.name, "c": column.name},
                        ).scalar()
                        if sequence:
                            connection.execute(sa.text("SELECT setval(:s, 1000)"), {"s": sequence})
    return written


def _same(stored: Any, expected: Any) -> bool:
    if isinstance(expected, datetime) and isinstance(stored, datetime):
        stored = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
        return stored == expected
    if isinstance(expected, bool):
        return bool(stored) == expected and stored in (0, 1, True, False)
    return stored == expected


def assert_rows_survived(url: str, written: dict[str, list[dict[str, Any]]]) -> None:
    metadata = reflect(url)
    with get_engine(url).connect() as connection:
        for name, rows in written.items():
            assert name in metadata.tables, f"table {name} was lost"
            table = metadata.tables[name]
            key = table.primary_key.columns.values()[0]
            found = {
                row._mapping[key.name]: row._mapping for row in connection.execute(sa.select(table))
            }
            assert len(found) == len(rows), f"{name}: {len(found)} rows, wrote {len(rows)}"
            for row in rows:
                stored = found[row[key.name]]
                for column, expected in row.items():
                    if column not in table.columns:
                        continue  # dropped on purpose by a later migration
                    assert _same(stored[column], expected), (
                        f"{name}.{column} of row {row[key.name]}: {stored[column]!r}, "
                        f"was {expected!r}"
                    )


def assert_newest_code_reads_everything(url: str) -> None:
    with Session(get_engine(url)) as session:
        for table in SQLModel.metadata.sorted_tables:
            model = next(
                m.class_
                for m in SQLModel._sa_registry.mappers  # type: ignore[attr-defined]
                if m.local_table is table
            )
            session.exec(select(model)).all()
        states = {post.state for post in session.exec(select(Post)).all()}
    assert states <= set(ALL_STATES)
    assert states, "no posts were made"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("revision", revisions_before_head())
def test_upgrade_from_every_revision_keeps_every_row(backend, revision, tmp_path):
    with empty_database(backend, tmp_path) as url:
        upgrade(url, revision)
        written = fill(url, revision)
        upgrade(url)
        dispose_all()
        assert_rows_survived(url, written)
        assert_newest_code_reads_everything(url)

        downgrade(url, revision)
        dispose_all()
        assert_rows_survived(url, written)
        upgrade(url)  # and up again: the downgrade left a schema the migrations can take
        dispose_all()
        assert_rows_survived(url, written)


def test_every_revision_is_covered():
    revisions = revisions_before_head()
    assert "0001" in revisions
    assert head_revision() not in revisions
    assert len(revisions) == len(set(revisions))


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_upgrades_at_once_both_end_at_head(backend, tmp_path):
    """Several hosts run `comms db upgrade` as their daemon starts (systemd ExecStartPre): the
    migrations run once, and the other upgrade waits and then finds nothing to do."""
    with empty_database(backend, tmp_path) as url:
        upgrade(url, "0001")
        written = fill(url, "0001")
        dispose_all()
        config = tmp_path / "comms.toml"
        config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
        command = [sys.executable, "-m", "comms", "--config", str(config), "db", "upgrade"]
        runs = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        results = [(p.wait(120), *p.communicate()) for p in runs]
        for code, out, err in results:
            assert code == 0, err
            assert out.strip().endswith(f"-> {head_revision()}"), out
        assert_rows_survived(url, written)
