"""The personal calendar feed: made, renewed and revoked from the calendar page, read without a
session by its secret address, stored only as a sha256; and the queue's index."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from starlette.testclient import TestClient

from comms import accounts
from comms.config import Settings
from comms.store.db import get_engine, session_scope
from comms.store.models import AuditEvent, CalendarFeed
from comms.web import create_app
from comms.web.queue_page import FILTERS, Cursor, queue_query
from tests.web.conftest import ORIGIN, add_post

URL_RE = re.compile(r'id="feed-url" value="http://localhost/calendar/feed/([A-Za-z0-9_-]+)\.ics"')


def make_feed(browser, action: str = "create") -> str:  # type: ignore[no-untyped-def]
    browser.get("/calendar/2027/1")
    response = browser.post("/calendar/feed", {"action": action})
    assert response.status_code == 200, response.text
    found = URL_RE.search(response.text)
    assert found is not None, response.text
    return found.group(1)


def fetch(settings: Settings, token: str):  # type: ignore[no-untyped-def]
    """The feed as a calendar program reads it: no cookie, no sign-in."""
    with TestClient(create_app(settings), base_url=ORIGIN) as anonymous:
        return anonymous.get(f"/calendar/feed/{token}.ics")


def test_a_person_makes_a_feed_and_a_calendar_reads_it_without_signing_in(client, site: Settings):
    soon = datetime.now(UTC) + timedelta(days=3)
    planned = add_post(site, title="Blå Mandag i feedet", scheduled_at=soon, state="queued")
    add_post(site, title="Annulleret opslag", scheduled_at=soon, state="cancelled")
    add_post(
        site,
        title="Udgivet opslag",
        state="published",
        scheduled_at=soon - timedelta(days=20),
        published_at=soon - timedelta(days=20),
    )
    vera = client("vera")
    page = vera.get(_month_path()).text
    assert 'value="create"' in page
    token = make_feed(vera)
    feed = fetch(site, token)
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    body = feed.text
    assert "BEGIN:VCALENDAR" in body
    assert "Blå Mandag i feedet (kommune-facebook)" in body
    assert "Udgivet opslag" in body
    assert "Annulleret opslag" not in body
    assert "X-WR-CALNAME:Tryg Aalborg: vera" in body
    assert f"/posts/{planned}" not in body  # no workspace link leaks a session need

    with session_scope(site.database_url) as session:
        rows = session.exec(sa.select(CalendarFeed)).scalars().all()
        assert [r.token_hash for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
        assert rows[0].last_used_at is not None
        actions = session.exec(sa.select(AuditEvent.action)).scalars().all()
    assert "calendar-feed:create" in actions
    with get_engine(site.database_url).connect() as connection:  # the token itself: nowhere
        dump = "\n".join(connection.connection.iterdump())
    assert token not in dump
    again = vera.get(_month_path()).text
    assert 'value="renew"' in again
    assert token not in again  # shown once, when it was made


def test_renewing_ends_the_old_address_and_revoking_ends_the_new(client, site: Settings):
    add_post(site, title="Opslag", state="queued")
    eva = client("eva")
    old = make_feed(eva)
    new = make_feed(eva, "renew")
    assert new != old
    assert fetch(site, old).status_code == 404
    assert fetch(site, new).status_code == 200
    revoked = eva.post("/calendar/feed", {"action": "revoke"})
    assert revoked.status_code == 303
    assert revoked.headers["location"] == "/calendar?ok=feed-revoked"
    assert fetch(site, new).status_code == 404
    assert 'value="create"' in eva.get(_month_path()).text
    assert fetch(site, "x" * 43).status_code == 404
    assert fetch(site, "").status_code == 404


def test_a_disabled_persons_feed_answers_404_and_a_foreign_form_is_refused(client, site: Settings):
    emil = client("emil")
    token = make_feed(emil)
    assert fetch(site, token).status_code == 200
    with session_scope(site.database_url) as session:
        accounts.disable_user(session, "emil", actor="admin")
    assert fetch(site, token).status_code == 404
    eva = client("eva")
    eva.get(_month_path())
    assert (
        eva.post("/calendar/feed", {"action": "create"}, origin="https://evil.example").status_code
        == 403
    )
    assert eva.post("/calendar/feed", {"action": "create"}, token="forkert").status_code == 403
    with session_scope(site.database_url) as session:
        owners = session.exec(sa.select(CalendarFeed.user_id)).scalars().all()
    assert len(owners) == 1  # only emil's


def _month_path() -> str:
    now = datetime.now(UTC)
    return f"/calendar/{now.year}/{now.month}"


def test_the_queue_order_is_served_by_its_index(site: Settings):
    """EXPLAIN QUERY PLAN: the unfiltered queue, its next page and its default (from today)
    all walk ix_post_scheduled_at_id instead of sorting the posts."""
    for n in range(30):
        add_post(site, scheduled_at=datetime(2027, 1, 1, tzinfo=UTC) + timedelta(hours=n))
    none = dict.fromkeys(FILTERS, "")
    cursor = Cursor(datetime(2027, 1, 1, 5, tzinfo=UTC), 6)
    from datetime import date

    cases = {
        "unfiltered": queue_query(site, none, None, None, None),
        "next page": queue_query(site, none, None, None, cursor),
        "from today": queue_query(site, none, date(2027, 1, 1), None, None),
    }
    engine = get_engine(site.database_url)
    for name, query in cases.items():
        compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
        with engine.connect() as connection:
            plan = " | ".join(
                str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            )
        assert "ix_post_scheduled_at_id" in plan, (name, plan)
        assert "TEMP B-TREE" not in plan, (name, plan)
