"""The rows of a read, fetched from SQLite in one step: the whole answer as one JSON value.

Python's sqlite3 driver lets go of the interpreter lock for every row it steps to, and must take
it back after. On a server whose threads are busy (the workspace under load: twenty people, a
thread each) taking it back can mean waiting out another thread's switch interval, once per
row, so a page that reads a few hundred rows can wait for a second while its own work takes
milliseconds. Asked for one JSON array of the rows, SQLite steps once. PostgreSQL's driver reads
the whole answer in one go, so there the rows are fetched as usual.
"""

from __future__ import annotations

import functools
import json
from collections import namedtuple
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, SQLModel
from sqlmodel.sql.expression import SelectOfScalar

from comms.store.models import UTCDateTime

Decode = Callable[[Any], Any]
M = TypeVar("M", bound=SQLModel)


def all_rows(
    session: Session, statement: sa.Select[Any] | sa.CompoundSelect, params: Mapping[str, Any]
) -> list[Any]:
    """Every row of `statement` (in no promised order), with attribute access by label, and
    values as the columns' types give them (aware UTC datetimes from UTCDateTime columns)."""
    if session.get_bind().dialect.name != "sqlite":
        return list(session.execute(statement, params).all())
    return _read(session, _reading(statement), params)


def _read(
    session: Session, reading: tuple[sa.Select[Any], type, list[Decode | None]], params: Any
) -> list[Any]:
    one_value, row_type, decoders = reading
    answer = session.execute(one_value, params).scalar_one()
    return [
        row_type(
            *(decode(value) if decode and value is not None else value for decode, value in pairs)
        )
        for pairs in (zip(decoders, values, strict=True) for values in json.loads(answer))
    ]


def all_models(
    session: Session,
    statement: SelectOfScalar[M],
    model: type[M],
    order: Callable[[M], Any],
    *,
    reverse: bool = False,
) -> list[M]:
    """Every `model` row `statement` selects, sorted by `order` (the statement's own order),
    as plain objects for showing: not attached to the session, so not to be changed."""
    if session.get_bind().dialect.name != "sqlite":
        return list(session.exec(statement).all())
    rows = _read(session, _plan(statement), {})  # built per request: planned each time
    found = [model.model_construct(**row._asdict()) for row in rows]
    found.sort(key=order, reverse=reverse)
    return found


def _plan(
    statement: sa.Select[Any] | sa.CompoundSelect,
) -> tuple[sa.Select[Any], type, list[Decode | None]]:
    """The statement asking for `statement`'s rows as one JSON array, the type of a row, and
    each column's decoder. Worked out once per statement: a compound's columns are made anew
    on every look."""
    columns = list(statement.selected_columns)
    names = tuple(column.key or f"column_{n}" for n, column in enumerate(columns))
    rows = statement.subquery()
    one_value = sa.select(sa.func.json_group_array(sa.func.json_array(*rows.c)))
    return one_value, _row_type(names), [_decoder(column.type) for column in columns]


@functools.cache
def _row_type(names: tuple[str, ...]) -> type:
    """A named tuple per set of column names (making one costs as much as a small query)."""
    return namedtuple("Row", names, rename=True)


# all_rows' callers build their statements once, so each is planned once
_reading = functools.lru_cache(maxsize=64)(_plan)


def _decoder(kind: sa.types.TypeEngine[Any]) -> Decode | None:
    """How a JSON value of a column of this type becomes the value SQLAlchemy would give."""
    if isinstance(kind, UTCDateTime):
        return _utc
    if isinstance(kind, sa.DateTime):
        return datetime.fromisoformat
    if isinstance(kind, sa.Boolean):
        return bool
    return None


def _utc(text: str) -> datetime:
    """SQLite's stored text of a UTC instant ('2026-12-01 18:04:28.101542'), aware."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
