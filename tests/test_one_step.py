"""Reads fetched in one step (comms/store/one_step.py) give what the usual fetch gives.

On SQLite the rows come back as one JSON value and are turned back into Python values by the
columns' types; on PostgreSQL they are fetched as usual. Either way a caller must see the same
rows, values and types as `session.execute(...).all()` and ORM objects would give it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from comms.store.db import session_scope, upgrade
from comms.store.models import ChannelState, Post, PostState
from comms.store.one_step import all_models, all_rows
from tests.pg import BACKENDS, empty_database

AWKWARD_TEXTS = (
    'Blå Mandag på "Gammeltorv" \\ kl. 9\nnæste linje\ttab',
    "emoji 🎉 og æøå ÆØÅ",
    "[1, 2] {\"json\": true} ' ' null",
    "",
)


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path):
    with empty_database(request.param, tmp_path) as found:
        upgrade(found)
        yield found


def _seed(url: str) -> list[int]:
    start = datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=UTC)
    ids = []
    with session_scope(url) as session:
        for n, text in enumerate(AWKWARD_TEXTS * 3):
            post = Post(
                channel=f"kanal-{n % 2}",
                text=text,
                title=None if n % 3 else f"Titel {n}",
                scheduled_at=start + timedelta(minutes=n // 2),  # ties on the time: id decides
                published_at=start if n % 4 == 0 else None,
                state=PostState.PUBLISHED if n % 4 == 0 else PostState.QUEUED,
                dst_adjusted=bool(n % 2),
            )
            session.add(post)
            session.flush()
            ids.append(int(post.id or 0))
        session.add(ChannelState(name="kanal-0", paused=True, paused_reason='401 "fra" X'))
    return ids


def test_rows_are_the_rows_the_usual_fetch_gives(url):
    _seed(url)
    statement = (
        sa.select(
            col(Post.id),
            col(Post.text),
            col(Post.title),
            col(Post.scheduled_at),
            col(Post.published_at),
            col(Post.dst_adjusted),
            sa.literal(7).label("day_number"),
        )
        .where(col(Post.scheduled_at) >= sa.bindparam("since", type_=Post.scheduled_at.type))
        .order_by(col(Post.id))
    )
    since = {"since": datetime(2026, 12, 1, 8, 31, tzinfo=UTC)}
    with session_scope(url, read_only=True) as session:
        expected = [tuple(row) for row in session.execute(statement, since).all()]
        found = all_rows(session, statement, since)
    assert len(expected) == len(AWKWARD_TEXTS * 3) - 2  # the first minute's two left out
    assert sorted(tuple(row) for row in found) == expected
    for row in found:
        assert row.scheduled_at.tzinfo is not None  # aware UTC, as UTCDateTime gives it
        assert row.published_at is None or row.published_at.utcoffset() == timedelta(0)
        assert isinstance(row.dst_adjusted, bool)
        assert row.day_number == 7
    with session_scope(url, read_only=True) as session:
        nothing = all_rows(session, statement.where(col(Post.id) < 0), since)
    assert nothing == []


def test_models_are_the_objects_the_orm_gives_in_the_statements_order(url):
    ids = _seed(url)
    for descending in (False, True):
        order = (
            (col(Post.scheduled_at).desc(), col(Post.id).desc())
            if descending
            else (col(Post.scheduled_at), col(Post.id))
        )
        statement = select(Post).where(col(Post.id).in_(ids[1:])).order_by(*order).limit(9)
        with session_scope(url, read_only=True) as session:
            expected = [post.model_dump() for post in session.exec(statement).all()]
            found = all_models(
                session, statement, Post, lambda p: (p.scheduled_at, p.id), reverse=descending
            )
        assert [post.model_dump() for post in found] == expected
        assert all(isinstance(post, Post) for post in found)
