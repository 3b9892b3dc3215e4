"""The workspace's pages and actions through TestClient: what each role sees and may do."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from comms.config import Settings
from comms.store.db import session_scope
from comms.store.models import AuditEvent, ChannelState, Notice, Post
from comms.web.queue_page import Cursor
from tests.web.conftest import add_post


def state_of(settings: Settings, post_id: int) -> Post:
    with session_scope(settings.database_url) as session:
        post = session.get(Post, post_id)
        assert post is not None
        return post


def test_the_right_approver_approves_and_it_is_audited(client, site: Settings):
    post_id = add_post(site, author="eva")
    anna = client("anna")
    page = anna.get(f"/posts/{post_id}")
    assert 'id="approve-form"' in page.text
    response = anna.post(f"/posts/{post_id}/approve")
    assert response.status_code == 303
    assert response.headers["location"] == f"/posts/{post_id}?ok=approved"
    post = state_of(site, post_id)
    assert (post.state, post.approved_by) == ("queued", "anna")
    with session_scope(site.database_url) as session:
        actors = session.exec(
            sa.select(AuditEvent.actor).where(AuditEvent.post_id == post_id)
        ).all()
    assert ("anna",) in [tuple(row) for row in actors]
    assert "Opslaget er godkendt" in anna.get(f"/posts/{post_id}?ok=approved").text


def test_an_approver_of_another_organisation_is_refused(client, site: Settings):
    post_id = add_post(site, author="eva")  # kommune-facebook
    peter = client("peter")  # approver, politi
    page = peter.get(f"/posts/{post_id}")
    assert page.status_code == 200
    assert 'id="approve-form"' not in page.text
    response = peter.post(f"/posts/{post_id}/approve")
    assert response.status_code == 403
    assert "organisation" in response.text.lower() or "politi" in response.text
    assert state_of(site, post_id).state == "draft"


def test_nobody_approves_what_they_last_edited(client, site: Settings):
    post_id = add_post(site, author="eva", last_editor="anna")
    anna = client("anna")
    anna.get(f"/posts/{post_id}")
    assert anna.post(f"/posts/{post_id}/approve").status_code == 403
    assert state_of(site, post_id).state == "draft"


def test_a_viewer_and_an_editor_cannot_approve(client, site: Settings):
    post_id = add_post(site, author="emil")
    for name in ("vera", "eva"):
        person = client(name)
        person.get(f"/posts/{post_id}")
        assert person.post(f"/posts/{post_id}/approve").status_code == 403, name
    assert state_of(site, post_id).state == "draft"


def test_a_rejected_post_returns_to_its_author_with_the_comment(client, site: Settings):
    post_id = add_post(site, author="eva", title="Blå Mandag")
    anna = client("anna")
    anna.get(f"/posts/{post_id}")
    assert anna.post(f"/posts/{post_id}/reject", {"comment": ""}).status_code == 400
    response = anna.post(f"/posts/{post_id}/reject", {"comment": "Datoen er forkert"})
    assert response.status_code == 303
    post = state_of(site, post_id)
    assert (post.state, post.review_comment) == ("rejected", "Datoen er forkert")
    eva = client("eva")
    overview = eva.get("/").text
    assert 'id="rejected"' in overview
    assert "Datoen er forkert" in overview
    page = eva.get(f"/posts/{post_id}").text
    assert "Afvist med kommentaren:" in page
    assert 'id="edit-form"' in page
    response = eva.post(f"/posts/{post_id}/edit", {"text": "Kom til Blå Mandag mandag den 3."})
    assert response.status_code == 303
    post = state_of(site, post_id)
    assert (post.state, post.last_editor, post.text) == (
        "draft",
        "eva",
        "Kom til Blå Mandag mandag den 3.",
    )


def test_editing_an_approved_post_sends_it_back_to_draft(client, site: Settings):
    post_id = add_post(site, author="eva", state="queued", approved_by="anna")
    emil = client("emil")
    emil.get(f"/posts/{post_id}")
    assert emil.post(f"/posts/{post_id}/edit", {"text": "Ny tekst"}).status_code == 303
    post = state_of(site, post_id)
    assert (post.state, post.approved_by, post.last_editor) == ("draft", None, "emil")


def test_a_script_in_a_posts_text_shows_as_text(client, site: Settings):
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)> https://a.dk/"onmouseover="x'
    post_id = add_post(site, text=hostile, title="<b>fed</b>")
    page = client("vera").get(f"/posts/{post_id}").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert "<b>fed</b>" not in page
    assert 'onmouseover="x' not in page


def test_an_unknown_post_is_404_and_a_viewer_gets_403_for_actions(client, site: Settings):
    vera = client("vera")
    assert vera.get("/posts/99999").status_code == 404
    post_id = add_post(site)
    vera.get(f"/posts/{post_id}")
    for action in ("edit", "reject", "cancel", "reschedule", "settle"):
        assert vera.post(f"/posts/{post_id}/{action}", {"text": "x"}).status_code == 403, action


def test_the_x_card_has_xs_buttons_and_counts_as_x_counts(client, site: Settings):
    url = "https://www.aalborg.dk/" + "meget-lang-sti/" * 20
    post_id = add_post(site, channel="kommune-x", text=f"Læs mere {url}")
    page = client("vera").get(f"/posts/{post_id}").text
    assert 'class="card card-x"' in page
    assert "Repost" in page
    assert "Synes godt om" not in page
    assert "32 af 280 tegn, som X tæller" in page  # "Læs mere " + a link counted as 23
    facebook = client("vera").get(f"/posts/{add_post(site)}").text
    assert 'class="card card-facebook"' in facebook
    assert "Synes godt om" in facebook


def test_a_post_too_long_for_x_says_so(client, site: Settings):
    post_id = add_post(site, channel="kommune-x", text="ø" * 300)
    page = client("vera").get(f"/posts/{post_id}").text
    assert "300 af 280 tegn, som X tæller" in page
    assert "for langt" in page


def test_reschedule_cancel_and_settle(client, site: Settings):
    post_id = add_post(site, author="eva")
    anna = client("anna")
    anna.get(f"/posts/{post_id}")
    assert (
        anna.post(
            f"/posts/{post_id}/reschedule", {"date": "2020-01-01", "time": "09:00"}
        ).status_code
        == 400
    )
    day = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    assert (
        anna.post(f"/posts/{post_id}/reschedule", {"date": day, "time": "09:30"}).status_code == 303
    )
    moved = state_of(site, post_id).scheduled_at.astimezone(site.zone)
    assert (moved.date().isoformat(), moved.strftime("%H:%M")) == (day, "09:30")
    assert anna.post(f"/posts/{post_id}/cancel", {"reason": "aflyst"}).status_code == 303
    assert state_of(site, post_id).state == "cancelled"
    again = anna.post(f"/posts/{post_id}/cancel")
    assert again.status_code == 403
    assert "annulleret" in again.text

    unknown = add_post(site, state="unknown")
    assert 'id="settle-form"' in anna.get(f"/posts/{unknown}").text
    response = anna.post(
        f"/posts/{unknown}/settle", {"outcome": "published", "url": "https://facebook.com/p/1"}
    )
    assert response.status_code == 303
    post = state_of(site, unknown)
    assert (post.state, post.external_url) == ("published", "https://facebook.com/p/1")


def test_the_overview_shows_what_needs_me(client, site: Settings, monkeypatch):
    monkeypatch.delenv("COMMS_TEST_FB_TOKEN", raising=False)
    monkeypatch.setenv("COMMS_TEST_X_TOKEN", "set")
    draft = add_post(site, author="eva")
    mine = add_post(site, author="anna")
    politi = add_post(site, channel="politi-facebook", author="eva")
    failed = add_post(site, state="failed", channel="kommune-x")
    stuck = add_post(site, state="queued", channel="kommune-facebook")
    late = add_post(
        site,
        state="queued",
        channel="kommune-x",
        scheduled_at=datetime.now(UTC) - timedelta(hours=2),
    )
    with session_scope(site.database_url) as session:
        session.add(ChannelState(name="kommune-x", paused=True, paused_reason="401 fra X"))
    page = client("anna").get("/").text
    awaiting = page.split('id="awaiting"')[1].split("</table>")[0]
    assert f'data-post="{draft}"' in awaiting
    assert f'data-post="{mine}"' not in awaiting  # four eyes
    assert f'data-post="{politi}"' not in awaiting  # another organisation
    assert f'data-post="{failed}"' in page.split('id="trouble"')[1].split("</table>")[0]
    problems = page.split('id="channel-problems"')[1].split("</ul>")[0]
    assert "COMMS_TEST_FB_TOKEN er ikke sat" in problems
    assert "sat på pause: 401 fra X" in problems
    blocked = page.split('id="blocked"')[1].split("</table>")[0]
    assert f'data-post="{stuck}"' in blocked
    assert f'data-post="{late}"' in blocked
    assert "mangler sin hemmelighed" in blocked
    coming = page.split('id="coming"')[1].split("</table>")[0]
    assert f'data-post="{draft}"' in coming


def test_a_busy_week_shows_its_first_fifty_and_links_to_the_queue_for_the_rest(
    client, site: Settings
):
    start = datetime.now(UTC) + timedelta(hours=1)
    ids = [
        add_post(site, title=f"Uge-opslag {n}", scheduled_at=start + timedelta(minutes=n))
        for n in range(53)
    ]
    page = client("anna").get("/").text
    coming = page.split('id="coming"')[1].split("</table>")[0]
    listed = [int(n) for n in re.findall(r'data-post="(\d+)"', coming)]
    assert listed == ids[:50]  # the first fifty, in time order
    after = page.split('id="coming"')[1]
    today = datetime.now(UTC).astimezone(site.zone).date()
    week = f"/queue?from={today.isoformat()}&amp;to={(today + timedelta(days=7)).isoformat()}"
    assert f'<a href="{week}">Se alle opslag de næste syv dage i køen</a>' in after
    anna = client("anna")
    queue = anna.get(week.replace("&amp;", "&")).text  # the week's posts, a page at a time
    following = re.search(r'href="([^"]+)" rel="next"', queue)
    assert following is not None
    rest = anna.get(following.group(1).replace("&amp;", "&")).text
    assert re.findall(r'data-post="(\d+)"', rest) == [str(n) for n in ids[50:]]
    with session_scope(site.database_url) as session:  # three fewer: all of them fit
        session.execute(sa.update(Post).where(Post.id.in_(ids[:3])).values(state="cancelled"))
    few = client("anna").get("/").text
    assert re.findall(r'data-post="(\d+)"', few.split('id="coming"')[1]) == [
        str(n) for n in ids[3:]
    ]
    assert "Se alle opslag de næste syv dage" not in few


def test_the_queue_filters_and_pages_by_keyset(client, site: Settings):
    start = datetime.now(UTC) + timedelta(days=1)
    rows = [
        {
            "channel": "politi-facebook" if i % 3 == 0 else "kommune-facebook",
            "text": f"opslag {i}",
            "scheduled_at": start + timedelta(hours=i),
            "state": "queued" if i % 2 else "draft",
            "author": "eva" if i % 5 == 0 else "emil",
            "campaign": "blaa-mandag" if i % 4 == 0 else None,
            "idempotency_key": f"k{i}",
        }
        for i in range(120)
    ]
    with session_scope(site.database_url) as session:
        session.execute(sa.insert(Post), rows)
    vera = client("vera")
    seen: list[str] = []
    href = "/queue?state=queued&organisation=kommune"
    while href:
        page = vera.get(href.replace("&amp;", "&")).text
        seen += [
            line.split('data-post="')[1].split('"')[0]
            for line in page.split("\n")
            if 'data-post="' in line
        ]
        href = (
            page.split('id="next-page"')[0].rsplit('href="', 1)[1].split('"')[0]
            if 'id="next-page"' in page
            else ""
        )
    expected = [i for i in range(120) if i % 2 and i % 3]
    assert len(seen) == len(expected) == len(set(seen))
    texts = vera.get("/queue?author=eva&campaign=blaa-mandag").text
    assert texts.count('data-post="') == len([i for i in range(120) if i % 20 == 0])


def test_the_queue_stays_fast_at_100000_posts(client, site: Settings):
    start = datetime(2027, 1, 1, tzinfo=UTC)
    with session_scope(site.database_url) as session:  # one post a minute from 2027-01-01
        session.execute(
            sa.text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) "
                "INSERT INTO post (source, channel, text, scheduled_at, dst_adjusted, state, "
                "idempotency_key, attempts, on_approval, created_at, updated_at) "
                "SELECT 'plan', 'kommune-facebook', 'x', "
                "datetime('2027-01-01', '+' || (i - 1) || ' minutes'), 0, 'queued', "
                "'k' || i, 0, 0, '2026-12-01 00:00:00', '2026-12-01 00:00:00' FROM n"
            )
        )
    vera = client("vera")
    first = vera.get("/queue?from=2027-01-01")
    assert first.status_code == 200
    cursor = Cursor(start + timedelta(minutes=90_000), 90_001).text()
    deep = f"/queue?from=2027-01-01&after={cursor}"
    began = time.perf_counter()
    page = vera.get(deep)
    took = time.perf_counter() - began
    assert page.text.count('data-post="') == 50
    assert page.text.index('data-post="90002"') < page.text.index('data-post="90051"')
    assert took < 2.0, took


def test_a_busy_calendar_day_shows_its_first_posts_and_counts_the_rest(client, site: Settings):
    """A day with more posts than its cell holds shows the first ones in time order, says how
    many more there are and links to the week that lists them all; the month's count is all of
    them. A published post stands where it went out, not where it was planned."""
    morning = datetime(2031, 3, 12, 6, 0, tzinfo=UTC)  # 07:00 in Copenhagen
    ids = [
        add_post(site, scheduled_at=morning + timedelta(minutes=n), title=f"Opslag nummer {n}")
        for n in range(11)
    ]
    late = add_post(
        site,
        scheduled_at=datetime(2031, 3, 20, 8, 0, tzinfo=UTC),
        published_at=morning - timedelta(minutes=1),  # went out on the 12th, first of all
        state="published",
        title="Gik ud tidligt",
    )
    add_post(site, scheduled_at=morning, state="cancelled", title="Aflyst")
    page = client("anna").get("/calendar/2031/3").text
    shown = [i for i in [late, *ids] if f'href="/posts/{i}"' in page]
    assert shown == [late, *ids[:7]]
    assert page.index(f'href="/posts/{late}"') < page.index(f'href="/posts/{ids[0]}"')
    assert "+ 4 flere" in page
    assert 'class="more" href="/calendar/2031/uge/11"' in page
    assert "12 opslag, planlagte og udgivne" in page
    assert "Aflyst" not in page
    week = client("anna").get("/calendar/2031/uge/11").text
    assert all(f'href="/posts/{i}"' in week for i in [late, *ids])


def test_calendar_month_and_move(client, site: Settings):
    when = datetime(2031, 3, 10, 8, 0, tzinfo=UTC)
    post_id = add_post(site, scheduled_at=when, title="Marts-opslaget")
    anna = client("anna")
    assert anna.get("/calendar").status_code == 302
    page = anna.get("/calendar/2031/3").text
    assert "Marts 2031" in page
    assert f'href="/posts/{post_id}"' in page
    assert 'id="move-form"' in page
    response = anna.post(
        "/calendar/move", {"post_id": str(post_id), "date": "2031-04-02", "time": "10:15"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/calendar/2031/4?ok=rescheduled"
    assert f'href="/posts/{post_id}"' in anna.get("/calendar/2031/4").text
    ics = anna.get("/calendar/2031.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    assert anna.get("/calendar/2031/13").status_code == 404
    assert 'id="move-form"' not in client("vera").get("/calendar/2031/4").text


def test_calendar_entries_show_hostile_titles_and_channels_as_text(client, site: Settings):
    """An entry's link is written in Python (comms/web/calendar_page.py), not by the template's
    autoescape: what a person or a feed wrote is still text there, in the month and the week."""
    title = '"><img src=x onerror=alert(1)> & <b>fed</b>'
    when = datetime(2031, 3, 10, 8, 0, tzinfo=UTC)  # 9.00 in Copenhagen
    post_id = add_post(site, scheduled_at=when, title=title, campaign="kampagne-<i>")
    wanted = (
        '<span class="time">9.00</span> &#34;&gt;&lt;img src=x onerror=alert(1)&gt; &amp;'
        " &lt;b&gt;fed&lt;/b&gt; "
    )
    for person in ("anna", "vera"):  # one may move it, one may not
        for path in ("/calendar/2031/3", "/calendar/2031/uge/11"):
            page = client(person).get(path).text
            assert "<img" not in page, (person, path)
            assert "<b>fed" not in page, (person, path)
            assert wanted in page, (person, path)
            link = re.search(rf'<a class="entry [^>]*href="/posts/{post_id}"[^>]*>', page)
            assert link is not None
            moves = f'data-move="{post_id}" data-time="09:00"'
            assert (moves in link.group(0)) == (person == "anna"), (person, path)


def test_the_report_page_and_downloads(client, site: Settings):
    vera = client("vera")
    page = vera.get("/report?from=2026-01-01&to=2026-12-31")
    assert page.status_code == 200
    assert "Fra den 1. januar 2026 til den 31. december 2026" in page.text
    for fmt, kind in (("csv", "text/csv"), ("json", "application/json"), ("html", "text/html")):
        download = vera.get(f"/report/download?format={fmt}&from=2026-01-01&to=2026-12-31")
        assert download.status_code == 200, fmt
        assert download.headers["content-type"].startswith(kind)
        assert "attachment" in download.headers["content-disposition"]
    docx = vera.get("/report/download?format=docx&from=2026-01-01&to=2026-12-31")
    assert docx.content[:2] == b"PK"
    assert vera.get("/report?from=2026-12-31&to=2026-01-01").status_code == 400


def test_users_admin(client, site: Settings):
    admin = client("admin")
    page = admin.get("/users")
    assert 'data-user="anna"' in page.text
    weak = admin.post("/users/add", {"username": "ny", "password": "kort", "role": "editor"})
    assert weak.status_code == 400
    assert 'id="users-error"' in weak.text
    added = admin.post(
        "/users/add",
        {
            "username": "ny",
            "password": "en-lang-og-sjov-frase",
            "role": "editor",
            "organisation": "politi",
        },
    )
    assert added.status_code == 303
    assert client(None).sign_in("ny", "en-lang-og-sjov-frase").status_code == 303
    assert (
        admin.post("/users/ny/password", {"password": "en-anden-lang-frase-9"}).status_code == 303
    )
    assert client(None).sign_in("ny", "en-anden-lang-frase-9").status_code == 303
    for name in ("anna", "eva", "vera"):
        person = client(name)
        assert person.get("/users").status_code == 403, name
        assert (
            person.post(
                "/users/add", {"username": "x", "password": "p" * 20, "role": "admin"}
            ).status_code
            == 403
        )
        assert "/users" not in person.get("/").text.split("</nav>")[0]


def test_the_audit_log_and_its_csv(client, site: Settings):
    post_id = add_post(site, author="eva")
    anna = client("anna")
    anna.get(f"/posts/{post_id}")
    anna.post(f"/posts/{post_id}/reject", {"comment": '=HYPERLINK("http://evil")'})
    admin = client("admin")
    page = admin.get(f"/audit?actor=anna&post={post_id}").text
    assert "afvist" in page
    download = admin.get(f"/audit.csv?actor=anna&post={post_id}")
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0][:4] == ["id", "tid_utc", "hvem", "handling"]
    assert [row[3] for row in rows[1:]] == ["reject"]
    assert rows[1][6].startswith("'=")  # a spreadsheet shows it, never runs it
    assert client("anna").get("/audit").status_code == 403


def test_a_javascript_link_is_never_a_link(client, site: Settings):
    post_id = add_post(site, link="javascript:alert(document.cookie)", author="eva")
    page = client("vera").get(f"/posts/{post_id}").text
    assert 'href="javascript:' not in page
    assert "javascript:alert(document.cookie)" in page  # shown, as text
    eva = client("eva")
    eva.get(f"/posts/{post_id}")
    refused = eva.post(f"/posts/{post_id}/edit", {"text": "Ny", "link": "javascript:alert(1)"})
    assert refused.status_code == 400
    assert state_of(site, post_id).text != "Ny"


def test_the_overview_warns_of_an_expiring_token(client, site: Settings):
    soon = (datetime.now(UTC) + timedelta(days=5)).date()
    with session_scope(site.database_url) as session:
        session.add(Notice(kind="token-expiring", key=f"kommune-x:{soon}", subject="x"))
        session.add(Notice(kind="token-expiring", key="politi-facebook:2001-01-01", subject="x"))
    problems = client("anna").get("/").text.split('id="channel-problems"')[1].split("</ul>")[0]
    assert "<b>kommune-x</b> (kommune): adgangsnøglen udløber" in problems
    assert "politi-facebook</b> (politi): adgangsnøglen" not in problems  # long past


def test_an_author_submits_a_draft_for_approval(client, site: Settings):
    post_id = add_post(site, author="eva")
    eva = client("eva")
    assert 'id="submit-form"' in eva.get(f"/posts/{post_id}").text
    assert eva.post(f"/posts/{post_id}/submit").status_code == 303
    assert state_of(site, post_id).submitted_at is not None
    page = eva.get(f"/posts/{post_id}").text
    assert 'id="submit-form"' not in page
    assert 'id="submitted"' in page
    assert eva.post(f"/posts/{post_id}/submit").status_code == 409
    politi = add_post(site, channel="politi-facebook", author="eva")
    assert eva.post(f"/posts/{politi}/submit").status_code == 403  # not her organisation's


def test_static_files_may_be_cached_pages_may_not(client):
    vera = client("vera")
    assert vera.get("/static/comms.css").headers["cache-control"] == "no-cache"
    assert vera.get("/").headers["cache-control"] == "no-store"


def test_calendar_week_view_coloured_by_campaign(client, site: Settings):
    monday = datetime(2031, 3, 10, 9, 0, tzinfo=UTC)  # ISO week 11 of 2031
    karneval = add_post(site, scheduled_at=monday, campaign="karneval", title="Karneval")
    refleks = add_post(site, scheduled_at=monday + timedelta(days=2), campaign="refleks")
    later = add_post(site, scheduled_at=monday + timedelta(days=7), campaign="karneval")
    anna = client("anna")
    page = anna.get("/calendar/2031/uge/11").text
    assert "Kalender: uge 11 2031" in page
    assert f'href="/posts/{karneval}"' in page
    assert f'href="/posts/{refleks}"' in page
    assert f'href="/posts/{later}"' not in page  # next week
    assert "camp-0" in page.split(f'href="/posts/{karneval}"')[0].rsplit("<a", 1)[1]
    assert "camp-1" in page.split(f'href="/posts/{refleks}"')[0].rsplit("<a", 1)[1]
    assert 'href="/calendar/2031/uge/12"' in page
    assert 'href="/calendar/2031/uge/11"' in anna.get("/calendar/2031/3").text
    assert anna.get("/calendar/2031/uge/54").status_code == 404
    assert anna.get("/calendar/2026/uge/53").status_code == 200  # 2026 has a week 53


def test_a_post_lists_the_other_posts_of_its_story_and_the_queue_filters_by_it(
    client, site: Settings
):
    story = "a" * 32
    fb = add_post(site, story=story, title="Blå Mandag")
    x = add_post(site, channel="kommune-x", story=story, state="queued", title="Blå Mandag X")
    web = add_post(site, channel="hjemmeside", story=story, state="rejected", title="Blå på nettet")
    other = add_post(site, story="b" * 32, title="En anden historie")
    alone = add_post(site, title="Uden historie")
    vera = client("vera")
    page = vera.get(f"/posts/{fb}").text
    table = page[page.index('id="story"') : page.index("</table>", page.index('id="story"'))]
    assert f'href="/posts/{x}"' in table
    assert f'href="/posts/{web}"' in table
    assert f'href="/posts/{fb}"' not in table  # not itself
    assert f'href="/posts/{other}"' not in table
    assert "kommune-x" in table
    assert "hjemmeside" in table
    assert "godkendt" in table  # each one's state
    assert "afvist" in table
    assert f'href="/queue?story={story}&amp;from="' in page
    assert 'id="story"' not in vera.get(f"/posts/{alone}").text

    queue = vera.get(f"/queue?story={story}&from=").text
    assert 'id="story-filter"' in queue
    shown = {n for n in (fb, x, web, other, alone) if f'data-post="{n}"' in queue}
    assert shown == {fb, x, web}
    assert f'name="story" value="{story}"' in queue  # kept when the other filters change


def test_the_calendar_marks_what_may_be_dragged_and_where(client, site: Settings):
    when = datetime(2031, 3, 12, 9, 30, tzinfo=UTC)
    draft = add_post(site, scheduled_at=when, title="Kan flyttes")
    done = add_post(site, scheduled_at=when, state="published", published_at=when, title="Udgivet")
    eva = client("eva")
    page = eva.get("/calendar/2031/3").text
    assert '<script src="/static/calendar.js" defer></script>' in page
    assert f'data-move="{draft}" data-time="10:30"' in page  # local time (CET) kept on a drop
    assert f'data-move="{done}"' not in page
    assert 'data-date="2031-03-12"' in page
    assert 'data-date="2031-02-28"' not in page  # the days of other months are no targets
    week = eva.get("/calendar/2031/uge/11").text
    assert f'data-move="{draft}"' in week
    assert 'data-date="2031-03-16"' in week
    viewer = client("vera").get("/calendar/2031/3").text
    assert "data-move=" not in viewer
    assert "calendar.js" not in viewer
    script = eva.get("/static/calendar.js")
    assert script.status_code == 200
    assert "requestSubmit" in script.text
