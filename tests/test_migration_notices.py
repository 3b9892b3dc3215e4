"""Migration 0004 (batched notices) on a database that already holds posts, users and notices,
on SQLite and PostgreSQL: every value survives, `through` starts empty, a daemon's batched
notice is recorded in it, and the downgrade gives back 0003 with the notices still there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from comms.store.db import current_revision, downgrade, get_engine, upgrade
from tests.pg import BACKENDS, empty_database

WHEN = datetime(2027, 5, 29, 6, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def url_at_0003(request, tmp_path):
    """A database at 0003 with posts (one submitted for approval), an approver and notices."""
    with empty_database(request.param, tmp_path) as url:
        _fill(url)
        yield url


def _fill(url: str) -> None:
    upgrade(url, "0003")
    naive = WHEN.replace(tzinfo=None) if url.startswith("sqlite") else WHEN
    columns = ("id", "source", "channel", "text", "scheduled_at", "state", "idempotency_key")
    columns += ("attempts", "dst_adjusted", "created_at", "updated_at", "author", "on_approval")
    posts = sa.table("post", *(sa.column(c) for c in (*columns, "submitted_at")))
    notices = sa.table("notice", *(sa.column(c) for c in ("kind", "key", "sent_at", "subject")))
    user_columns = ("username", "role", "organisation", "email", "disabled")
    users = sa.table(
        "app_user", *(sa.column(c) for c in (*user_columns, "created_at", "updated_at"))
    )
    with get_engine(url).begin() as connection:
        connection.execute(
            posts.insert(),
            [
                {
                    "id": n,
                    "source": "compose",
                    "channel": "site",
                    "text": f"Opslag {n} æøå",
                    "scheduled_at": naive + timedelta(days=1) if n == 1 else naive,
                    "state": state,
                    "idempotency_key": f"key-{n}",
                    "attempts": 0,
                    "dst_adjusted": False,
                    "created_at": naive,
                    "updated_at": naive,
                    "author": "anna",
                    "on_approval": False,
                    "submitted_at": naive if n == 1 else None,
                }
                for n, state in enumerate(["draft", "queued", "failed"], start=1)
            ],
        )
        connection.execute(
            notices.insert(),
            [
                {"kind": "post-failed", "key": "3", "sent_at": naive, "subject": "comms: post 3"},
                {"kind": "channel-paused", "key": "site", "sent_at": naive, "subject": "pause"},
            ],
        )
        connection.execute(
            users.insert(),
            [
                {
                    "username": "pia",
                    "role": "approver",
                    "organisation": "politi",
                    "email": "pia@politi.dk",
                    "disabled": False,
                    "created_at": naive,
                    "updated_at": naive,
                }
            ],
        )


def _rows(url: str, table: str, columns: str) -> list[tuple]:
    with get_engine(url).connect() as connection:
        return [tuple(r) for r in connection.execute(sa.text(f"SELECT {columns} FROM {table}"))]


NOTICE = "kind, key, sent_at, subject"
POST = "id, text, state, author, submitted_at"


def test_upgrade_keeps_notices_and_posts_and_adds_an_empty_through(url_at_0003):
    notices, posts = _rows(url_at_0003, "notice", NOTICE), _rows(url_at_0003, "post", POST)
    upgrade(url_at_0003, "0004")
    assert current_revision(url_at_0003) == "0004"
    assert _rows(url_at_0003, "notice", NOTICE) == notices
    assert _rows(url_at_0003, "post", POST) == posts
    assert _rows(url_at_0003, "notice", "through") == [(None,), (None,)]


def test_the_upgraded_database_records_a_batched_notice(url_at_0003, tmp_path):
    import json

    from comms.config import load_settings
    from comms.publishing.daemon import Daemon
    from tests.factories import stub_channel

    upgrade(url_at_0003)
    config = tmp_path / "comms.toml"
    config.write_text(
        f'[database]\nurl = "{url_at_0003}"\n'
        + stub_channel(tmp_path, "site", organisation="politi")
        + stub_channel(tmp_path, "team")
        + '[notifications]\nchannel = "team"\n',
        encoding="utf-8",
    )
    daemon = Daemon(load_settings(config))
    daemon.run_once(WHEN + timedelta(minutes=2))
    daemon.run_once(WHEN + timedelta(minutes=3))
    [sent] = [json.loads(line) for line in (tmp_path / "team.jsonl").read_text().splitlines()]
    assert "1 opslag for politi venter på godkendelse" in sent["text"]
    assert "- Opslag 1 på site: Opslag 1 æøå" in sent["text"]
    batched = _rows(url_at_0003, "notice", "kind, key, through")
    [(_kind, key, through)] = [row for row in batched if row[0] == "approval-requested"]
    assert key == "politi|team|start"
    assert through is not None


def test_downgrade_to_0003_keeps_the_notices(url_at_0003):
    notices = _rows(url_at_0003, "notice", NOTICE)
    upgrade(url_at_0003)
    downgrade(url_at_0003, "0003")
    assert current_revision(url_at_0003) == "0003"
    assert _rows(url_at_0003, "notice", NOTICE) == notices
    with get_engine(url_at_0003).connect() as connection:
        columns = {c["name"] for c in sa.inspect(connection).get_columns("notice")}
    assert "through" not in columns
