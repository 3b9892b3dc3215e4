"""Migration 0003 (the workspace) on a database that already holds posts, on SQLite and
PostgreSQL: every existing value survives, the new columns start empty, the accounts tables
work, and the downgrade gives back 0002 with the posts still there."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from comms.store.db import current_revision, downgrade, get_engine, upgrade
from tests.pg import BACKENDS, empty_database


@pytest.fixture(params=BACKENDS)
def url_at_0002(request, tmp_path):
    """A database brought to 0002 and given posts, audit events and a notice, as 0002 had them."""
    with empty_database(request.param, tmp_path) as url:
        _fill(url)
        yield url


WHEN = datetime(2027, 5, 29, 6, 0, tzinfo=UTC)


def _fill(url: str) -> None:
    upgrade(url, "0002")
    posts = sa.table(
        "post",
        *(sa.column(c) for c in ("id", "source", "channel", "text", "scheduled_at", "state")),
        *(sa.column(c) for c in ("idempotency_key", "attempts", "dst_adjusted")),
        *(sa.column(c) for c in ("created_at", "updated_at", "approved_by", "campaign")),
    )
    naive = WHEN.replace(tzinfo=None) if url.startswith("sqlite") else WHEN
    with get_engine(url).begin() as connection:
        connection.execute(
            posts.insert(),
            [
                {
                    "id": n,
                    "source": "plan",
                    "channel": "site",
                    "text": f"Opslag nummer {n} æøå",
                    "scheduled_at": naive,
                    "state": state,
                    "idempotency_key": f"key-{n}",
                    "attempts": n,
                    "dst_adjusted": False,
                    "created_at": naive,
                    "updated_at": naive,
                    "approved_by": "eva" if state != "draft" else None,
                    "campaign": "cykel",
                }
                for n, state in enumerate(["draft", "queued", "published", "failed"], start=1)
            ],
        )


POST_COLUMNS = "id, text, state, attempts, idempotency_key, approved_by, campaign"


def _posts(url: str) -> list[tuple]:
    with get_engine(url).connect() as connection:
        rows = connection.execute(sa.text(f"SELECT {POST_COLUMNS} FROM post ORDER BY id"))
        return [tuple(r) for r in rows]


def test_upgrade_keeps_every_post_and_adds_empty_workspace_columns(url_at_0002):
    before = _posts(url_at_0002)
    assert len(before) == 4
    upgrade(url_at_0002, "0003")
    assert current_revision(url_at_0002) == "0003"
    assert _posts(url_at_0002) == before
    with get_engine(url_at_0002).connect() as connection:
        new = connection.execute(
            sa.text("SELECT author, last_editor, story, review_comment FROM post")
        ).all()
        tables = set(sa.inspect(connection).get_table_names())
    assert {tuple(r) for r in new} == {(None, None, None, None)}
    assert {"app_user", "web_session", "login_attempt", "post_version"} <= tables


def test_the_upgraded_database_takes_users_sessions_and_edits(url_at_0002):
    from datetime import timedelta

    from comms import accounts
    from comms.queue import transitions as queue
    from comms.store.db import session_scope
    from comms.store.models import Post, PostState

    upgrade(url_at_0002)
    with session_scope(url_at_0002) as session:
        user = accounts.add_user(
            session, "eva", "en lang og sjælden sætning", role="editor", actor="test"
        )
        token, _ = accounts.start_session(session, user, absolute=timedelta(hours=1))
        queue.edit(session, 2, actor="eva", text="Ny tekst")
    with session_scope(url_at_0002) as session:
        assert accounts.resume_session(session, token, idle=timedelta(minutes=5)) is not None
        post = session.get(Post, 2)
        assert (post.text, post.state, post.last_editor, post.approved_by) == (
            "Ny tekst",
            PostState.DRAFT,
            "eva",
            None,
        )
        assert [v.text for v in queue.versions(session, 2)] == [
            "Opslag nummer 2 æøå",
            "Ny tekst",
        ]


def test_downgrade_to_0002_keeps_the_posts(url_at_0002):
    before = _posts(url_at_0002)
    upgrade(url_at_0002)
    downgrade(url_at_0002, "0002")
    assert current_revision(url_at_0002) == "0002"
    assert _posts(url_at_0002) == before
    with get_engine(url_at_0002).connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        columns = {c["name"] for c in sa.inspect(connection).get_columns("post")}
    assert "app_user" not in tables
    assert "author" not in columns
