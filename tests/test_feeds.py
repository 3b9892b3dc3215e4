"""News feeds into drafts, against a feed served for real on 127.0.0.1 (tests/fakes/feeds.py).

`comms feeds poll` and `comms feeds list` run as processes of their own, as an officer or cron
runs them; the daemon's feed job is tested in-process where a clock must be moved (the notice
after a day) and as `python -m comms daemon` where it must make drafts by itself.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from comms.config import load_settings
from comms.errors import ConfigError, FeedError
from comms.feeds.fetch import fetch
from comms.feeds.parse import parse_feed
from comms.feeds.poll import poll_feed
from comms.publishing.daemon import Daemon
from comms.store.db import ensure_schema, session_scope
from comms.store.models import AuditEvent, FeedEntry, FeedState, Notice, Post, PostState
from tests.cli import run_comms
from tests.factories import stub_channel
from tests.fakes.feeds import FakeFeed
from tests.pg import BACKENDS, empty_database
from tests.timing import wait_until

TEMPLATE = "{{ title }} ({{ published | dato }})\n\n{{ summary }}\n\n{{ link }}\n"


@pytest.fixture
def news() -> Iterator[FakeFeed]:
    with FakeFeed() as feed:
        feed.add("n-1", "Nyt fortov på Boulevarden", published=datetime(2026, 11, 2, 9, tzinfo=UTC))
        feed.add("n-2", "Vejarbejde i Vestbyen", published=datetime(2026, 11, 3, 9, tzinfo=UTC))
        yield feed


def write_config(
    folder: Path,
    feed_url: str,
    *,
    feed_options: str = "",
    database: str | None = None,
    extra: str = "",
) -> Path:
    """A config with two channels (stub, site), the template feeds/nyhed.j2 and [feeds.nyheder]."""
    (folder / "templates" / "feeds").mkdir(parents=True, exist_ok=True)
    (folder / "templates" / "feeds" / "nyhed.j2").write_text(TEMPLATE, encoding="utf-8")
    body = textwrap.dedent(f"""\
        timezone = "Europe/Copenhagen"
        [database]
        url = "{database or f"sqlite:///{folder / 'comms.db'}"}"
        [daemon]
        tick_seconds = 0.5
        """)
    body += stub_channel(folder)
    body += '[channels.hjemmeside]\ntype = "site"\npath = "site"\n'
    body += extra
    body += textwrap.dedent(f"""\
        [feeds.nyheder]
        url = "{feed_url}"
        channels = ["stub", "hjemmeside"]
        template = "feeds/nyhed"
        """)
    body += textwrap.dedent(feed_options)
    path = folder / "comms.toml"
    path.write_text(body, encoding="utf-8")
    return path


def feeds(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_comms("--config", str(config), "feeds", *args)


def posts(url: str) -> list[Post]:
    with session_scope(url) as session:
        return list(session.exec(select(Post).order_by(col(Post.id))).all())


def db_url(config: Path) -> str:
    return load_settings(config).database_url


# --- the check: polled twice, then with a new entry -----------------------------------------


def test_first_poll_records_second_is_conditional_new_entry_becomes_posts_once(news, tmp_path):
    config = write_config(tmp_path, news.url + "/rss.xml")
    first = feeds(config, "poll")
    assert first.returncode == 0, first.stderr
    assert "første hentning: 2 nyhed(er) noteret som set, ingen opslag" in first.stdout
    url = db_url(config)
    assert posts(url) == []

    second = feeds(config, "poll")
    assert second.returncode == 0, second.stderr
    assert "intet nyt" in second.stdout
    calls = news.feed_calls()
    assert calls[0].header("if-none-match") is None  # the first poll asks for everything
    assert calls[1].header("if-none-match") == news.etag
    assert calls[1].header("if-modified-since") == news.last_modified
    assert posts(url) == []

    news.add("n-3", "Ny legeplads i Kildeparken", summary_html="<p>Åbner <b>lørdag</b>.</p>")
    third = feeds(config, "poll")
    assert third.returncode == 0, third.stderr
    made = posts(url)
    assert [p.channel for p in made] == ["stub", "hjemmeside"]
    assert {p.story for p in made} == {made[0].story}
    assert made[0].story
    for post in made:
        assert post.state == PostState.DRAFT
        assert post.submitted_at is not None  # waits for approval, as a submitted one-off post
        assert post.author == "feed:nyheder"
        assert post.title == "Ny legeplads i Kildeparken"
        assert post.link == (
            "https://www.aalborg.dk/nyheder/n-3"
            f"?utm_source={post.channel}&utm_medium=social&utm_campaign=nyheder"
        )
        assert post.text.startswith("Ny legeplads i Kildeparken (")
        assert "Åbner lørdag." in post.text
        assert "<b>" not in post.text
        assert post.text.endswith(post.link)
        assert post.on_approval
    assert f"opslag {made[0].id}, {made[1].id}" in third.stdout

    again = feeds(config, "poll")  # a new process: nothing repeats
    assert again.returncode == 0, again.stderr
    assert len(posts(url)) == 2

    listed = feeds(config, "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["entries_seen"], row["entries_posted"], row["posts"]) == (3, 1, 2)
    assert row["failing_since"] is None
    assert row["last_ok_at"]
    wide = {**os.environ, "COLUMNS": "200"}
    table = run_comms("--config", str(config), "feeds", "list", env=wide)
    assert "nyheder" in table.stdout
    assert "Nyheder set" in table.stdout
    assert "ok (" in table.stdout


def test_atom_feed_and_its_dates_in_danish(news, tmp_path):
    config = write_config(tmp_path, news.url + "/atom.xml")
    assert feeds(config, "poll").returncode == 0
    news.add("n-9", "Atom-nyhed", published=datetime(2026, 12, 24, 23, 30, tzinfo=UTC))
    result = feeds(config, "poll")
    assert result.returncode == 0, result.stderr
    made = posts(db_url(config))
    assert len(made) == 2
    # 23.30 UTC is 00.30 on the 25th in Copenhagen: the template's date is the local one
    assert made[0].text.startswith("Atom-nyhed (25. december 2026)")


# --- backfill ---------------------------------------------------------------------------------


def test_backfill_on_the_first_poll_and_of_entries_only_recorded(news, tmp_path):
    config = write_config(tmp_path, news.url + "/rss.xml")
    url = db_url(config)
    result = feeds(config, "poll", "--backfill")
    assert result.returncode == 0, result.stderr
    made = posts(url)
    assert len(made) == 4  # two entries, two channels each
    assert [p.title for p in made[::2]] == ["Nyt fortov på Boulevarden", "Vejarbejde i Vestbyen"]
    assert feeds(config, "poll", "--backfill").returncode == 0
    assert len(posts(url)) == 4  # a backfill makes no entry twice

    other = tmp_path / "other"
    other.mkdir()
    config = write_config(other, news.url + "/rss.xml")
    url = db_url(config)
    assert feeds(config, "poll").returncode == 0
    assert posts(url) == []
    assert feeds(config, "poll", "--backfill").returncode == 0  # the recorded ones, now
    assert len(posts(url)) == 4
    assert feeds(config, "poll", "--backfill").returncode == 0
    assert len(posts(url)) == 4


def test_backfill_in_the_config(news, tmp_path):
    config = write_config(tmp_path, news.url + "/rss.xml", feed_options="backfill = true\n")
    assert feeds(config, "poll").returncode == 0
    assert len(posts(db_url(config))) == 4


# --- approval and time ------------------------------------------------------------------------


def test_without_approval_posts_are_queued_by_the_feed_audited(news, tmp_path):
    config = write_config(
        tmp_path, news.url + "/rss.xml", feed_options="require_approval = false\n"
    )
    assert feeds(config, "poll").returncode == 0
    news.add("n-3", "Straks ud")
    assert feeds(config, "poll").returncode == 0
    url = db_url(config)
    made = posts(url)
    assert [p.state for p in made] == [PostState.QUEUED, PostState.QUEUED]
    assert {p.approved_by for p in made} == {"feed:nyheder"}
    with session_scope(url) as session:
        actions = session.exec(
            select(AuditEvent.action).where(AuditEvent.actor == "feed:nyheder")
        ).all()
    assert sorted(actions) == ["approve", "approve", "compose", "compose", "submit", "submit"]


def test_delay_after_published_and_audience(news, tmp_path):
    config = write_config(
        tmp_path,
        news.url + "/rss.xml",
        feed_options='delay_minutes = 90\naudience = "borgere"\n',
    )
    assert feeds(config, "poll").returncode == 0
    published = datetime.now(UTC).replace(microsecond=0)
    news.add("n-3", "Om halvanden time", published=published)
    assert feeds(config, "poll").returncode == 0
    made = posts(db_url(config))
    assert {p.scheduled_at for p in made} == {published + timedelta(minutes=90)}
    assert {p.on_approval for p in made} == {False}
    assert {p.audience for p in made} == {"borgere"}


# --- failures ---------------------------------------------------------------------------------


def test_a_failing_feed_is_logged_recorded_and_retried(news, tmp_path):
    config = write_config(tmp_path, news.url + "/rss.xml")
    assert feeds(config, "poll").returncode == 0
    url = db_url(config)
    news.add("n-3", "Kommer igennem til sidst")
    news.fail_next("500")
    failed = feeds(config, "poll")
    assert failed.returncode == 1
    assert "fejlede" in failed.stdout
    assert "HTTP 500" in failed.stdout
    assert "Traceback" not in failed.stderr
    assert failed.stderr.count("poll failed") == 1
    with session_scope(url) as session:
        state = session.get(FeedState, "nyheder")
        assert state is not None
        assert state.failing_since is not None
        since = state.failing_since
    news.broken = True
    bad = feeds(config, "poll")
    assert bad.returncode == 1
    assert "not a well-formed feed" in bad.stdout
    with session_scope(url) as session:
        state = session.get(FeedState, "nyheder")
        assert state is not None
        assert state.failing_since == since  # still failing since the first failure
    wide = {**os.environ, "COLUMNS": "200"}
    listed = run_comms("--config", str(config), "feeds", "list", env=wide).stdout
    assert "fejler siden" in listed
    assert "not a well-formed feed" in listed
    assert posts(url) == []

    news.broken = False
    ok = feeds(config, "poll")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert len(posts(url)) == 2
    with session_scope(url) as session:
        state = session.get(FeedState, "nyheder")
        assert state is not None
        assert (state.failing_since, state.last_error) == (None, None)


def test_a_template_error_leaves_the_entry_for_the_next_poll(news, tmp_path):
    config = write_config(tmp_path, news.url + "/rss.xml")
    assert feeds(config, "poll").returncode == 0
    template = tmp_path / "templates" / "feeds" / "nyhed.j2"
    template.write_text("{{ titel }}", encoding="utf-8")
    news.add("n-3", "Venter på en rettet skabelon")
    failed = feeds(config, "poll")
    assert failed.returncode == 1
    assert "undefined variable" in failed.stdout
    template.write_text(TEMPLATE, encoding="utf-8")
    # the validators were not kept: the next poll reads the feed again, and finds the entry
    assert feeds(config, "poll").returncode == 0
    assert len(posts(db_url(config))) == 2


def test_slow_feed_times_out_and_only_http_is_fetched(news):
    news.fail_next("timeout", delay=2)
    with pytest.raises(FeedError, match=r"no answer within 0\.5 s"):
        fetch(news.url + "/rss.xml", timeout=(1, 0.5))
    with pytest.raises(FeedError, match="only http and https"):
        fetch("file:///etc/passwd")
    with pytest.raises(FeedError, match="larger than"):
        fetch(news.url + "/rss.xml", max_bytes=100)


def test_feed_failing_for_a_day_gives_one_notice(news, tmp_path):
    team = stub_channel(tmp_path, "team") + '[notifications]\nchannel = "team"\n'
    config = write_config(tmp_path, news.url + "/rss.xml", extra=team)
    settings = load_settings(config)
    ensure_schema(settings.database_url)
    start = datetime(2027, 3, 1, 8, tzinfo=UTC)
    daemon = Daemon(settings)
    news.fail_next("500", times=10)
    notices = tmp_path / "team.jsonl"

    def sent() -> list[dict]:
        if not notices.exists():
            return []
        return [json.loads(line) for line in notices.read_text().splitlines()]

    daemon.poll_feed("nyheder", start)
    daemon.poll_feed("nyheder", start + timedelta(hours=23, minutes=59))
    assert sent() == []
    daemon.poll_feed("nyheder", start + timedelta(hours=24))
    daemon.poll_feed("nyheder", start + timedelta(hours=25))
    Daemon(settings).poll_feed("nyheder", start + timedelta(hours=26))  # another daemon
    [notice] = sent()
    assert notice["text"].startswith("Nyhedsfeedet nyheder (http://127.0.0.1:")
    with session_scope(settings.database_url) as session:
        [row] = session.exec(select(Notice).where(Notice.kind == "feed-failing")).all()
    assert row.subject == "comms: nyhedsfeedet nyheder har fejlet i over et døgn"
    assert row.key == "nyheder:20270301T080000"
    assert "1. marts 2027 kl. 9.00" in notice["text"]  # since when, in Copenhagen time
    assert "HTTP 500" in notice["text"]


# --- exactly once with two pollers ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_two_processes_polling_at_once_make_each_entry_once(news, tmp_path, backend):
    with empty_database(backend, tmp_path) as database:
        config = write_config(tmp_path, news.url + "/rss.xml", database=database)
        ensure_schema(database)
        assert feeds(config, "poll").returncode == 0
        for number in range(12):
            news.add(f"race-{number}", f"Nyhed nummer {number}")
        command = [sys.executable, "-m", "comms", "--config", str(config), "feeds", "poll"]
        racers = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = [racer.communicate(timeout=120) for racer in racers]
        assert [r.returncode for r in racers] == [0, 0], outputs
        said = [re.search(r"(\d+) ny\(e\) nyhed", out) for out, _err in outputs]
        assert sum(int(m.group(1)) for m in said if m) == 12, outputs  # between them, once each
        made = posts(database)
        assert len(made) == 24
        titles = sorted(p.title or "" for p in made if p.channel == "stub")
        assert titles == sorted(f"Nyhed nummer {n}" for n in range(12))
        with session_scope(database) as session:
            rows = session.exec(select(FeedEntry).where(FeedEntry.story != None)).all()  # noqa: E711
            assert len(rows) == 12
            assert {r.story for r in rows} == {p.story for p in made}


# --- the daemon -------------------------------------------------------------------------------


@pytest.mark.slow
def test_daemon_process_makes_drafts_from_a_feed_and_survives_a_broken_one(news, tmp_path):
    with FakeFeed() as broken:
        broken.broken = True
        extra = textwrap.dedent(f"""\
            [feeds.itu]
            url = "{broken.url}/rss.xml"
            channels = ["stub"]
            template = "feeds/nyhed"
            poll_minutes = 0.01
            """)
        team = stub_channel(tmp_path, "team") + '[notifications]\nchannel = "team"\n'
        config = write_config(
            tmp_path,
            news.url + "/rss.xml",
            feed_options="poll_minutes = 0.01\n" + extra,
            extra=team,
        )
        url = db_url(config)
        ensure_schema(url)
        yesterday = datetime.now(UTC) - timedelta(hours=25)
        with session_scope(url) as session:  # the broken feed has failed since yesterday
            session.add(
                FeedState(
                    name="itu",
                    first_polled_at=yesterday - timedelta(days=3),
                    failing_since=yesterday,
                    last_error="HTTP 502 Bad Gateway",
                )
            )
        log = (tmp_path / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "comms", "--config", str(config), "daemon"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        notices = tmp_path / "team.jsonl"
        try:

            def first_polled() -> bool:
                with session_scope(url) as session:
                    state = session.get(FeedState, "nyheder")
                    return state is not None and state.first_polled_at is not None

            def text() -> str:
                return (tmp_path / "daemon.log").read_text()

            wait_until(first_polled, 30, context=text)
            news.add("n-3", "Fra dæmonen")

            def made() -> bool:
                return len(posts(url)) == 2

            wait_until(made, 30, context=text)
            assert {p.title for p in posts(url)} == {"Fra dæmonen"}
            assert daemon.poll() is None  # the broken feed did not stop it
            assert len(broken.feed_calls()) >= 2, "the broken feed is polled again and again"
            wait_until(notices.exists, 30, context=text)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
            log.close()
        output = (tmp_path / "daemon.log").read_text()
        assert daemon.returncode == 0, output
        assert "feed itu: poll failed: not a well-formed feed" in output
        assert "Traceback" not in output
        sent = [json.loads(line) for line in notices.read_text().splitlines()]
        [notice] = [n for n in sent if n["text"].startswith("Nyhedsfeedet")]  # once, not per poll
        assert notice["text"].startswith("Nyhedsfeedet itu (http://127.0.0.1:")
        # the notice names the latest failure known when it is sent: the seeded one when the
        # notice pass ran before the daemon's first poll of the feed, else one it logged
        known = ["HTTP 502 Bad Gateway", *re.findall(r"feed itu: poll failed: (.+)", output)]
        assert any(f"Seneste fejl: {error.strip()}" in notice["text"] for error in known), (
            notice["text"],
            known,
        )


# --- parsing and the config -------------------------------------------------------------------


def test_entries_as_plain_text_with_image_and_aware_times():
    rss = b"""<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
    <channel><title>T</title>
    <item><title>Uden guid</title><link>/uden</link>
      <description>&lt;p&gt;Et&amp;nbsp;afsnit&lt;script&gt;alert(1)&lt;/script&gt;&lt;/p&gt;
      &lt;p&gt;To&lt;br&gt;linjer &lt;img src="/billede.jpg"&gt;&lt;/p&gt;</description>
      <pubDate>Tue, 01 Dec 2026 10:00:00 +0100</pubDate></item>
    <item><title>Med medie</title><guid>urn:x:2</guid>
      <media:content url="https://cdn.dk/m.jpg" medium="image"/></item>
    <item><title>Kun titel</title></item>
    </channel></rss>"""
    entries = parse_feed(rss, url="https://www.aalborg.dk/feed").entries
    by_title = {e.title: e for e in entries}
    plain = by_title["Uden guid"]
    assert plain.key == "https://www.aalborg.dk/uden"  # no guid: the link
    assert plain.summary == "Et afsnit\n\nTo\nlinjer"
    assert plain.image == "https://www.aalborg.dk/billede.jpg"
    assert plain.published == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert by_title["Med medie"].key == "urn:x:2"
    assert by_title["Med medie"].image == "https://cdn.dk/m.jpg"
    assert by_title["Kun titel"].key.startswith("sha256:")
    with pytest.raises(FeedError, match="well-formed"):
        parse_feed(b"<rss><channel><item><title>halv", url="https://x.dk/")
    with pytest.raises(FeedError, match="not an RSS or Atom feed"):
        parse_feed(b"<html><body>Ingen feed her</body></html>", url="https://x.dk/")


@pytest.mark.parametrize(
    ("option", "message", "hint"),
    [
        ('chanels = ["stub"]', "unknown key 'chanels'", "did you mean 'channels'?"),
        ('channels = ["stubb"]', "channel 'stubb' is not configured", "did you mean 'stub'?"),
        ("poll_minutes = 0", "poll_minutes must be a positive number", None),
    ],
)
def test_config_errors_point_at_the_line(tmp_path, option, message, hint):
    lines = [
        "[channels.stub]",
        'type = "stub"',
        "[feeds.nyheder]",
        'url = "https://www.aalborg.dk/rss"',
        'template = "feeds/nyhed"',
        *([] if option.startswith(("chanels", "channels")) else ['channels = ["stub"]']),
        option,
    ]
    path = tmp_path / "comms.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert message in caught.value.message
    assert caught.value.hint == hint or hint is None
    assert caught.value.line == len(lines)  # the option's own line
    result = run_comms("--config", str(path), "feeds", "list")
    assert result.returncode == 1
    assert f"comms.toml:{len(lines)}: feed 'nyheder': {message}" in result.stderr


def test_a_channel_that_needs_an_image_is_refused(tmp_path):
    path = tmp_path / "comms.toml"
    path.write_text(
        textwrap.dedent("""\
            [channels.insta]
            type = "instagram"
            ig_user_id = "1"
            token_env = "COMMS_IG"
            [feeds.nyheder]
            url = "https://www.aalborg.dk/rss"
            channels = ["insta"]
            template = "feeds/nyhed"
            """),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="needs an image file"):
        load_settings(path)


def test_unknown_feed_name_on_the_command_line(news, tmp_path):
    config = write_config(tmp_path, news.url + "/rss.xml")
    result = feeds(config, "poll", "nyhder")
    assert result.returncode == 1
    assert "intet nyhedsfeed ved navn 'nyhder'" in result.stderr
    assert "did you mean 'nyheder'?" in result.stderr


def test_poll_result_in_process_counts(news, tmp_path):
    config = write_config(tmp_path, news.url + "/rss.xml")
    settings = load_settings(config)
    ensure_schema(settings.database_url)
    feed = settings.feeds["nyheder"]
    first = poll_feed(settings, feed)
    assert (first.first, first.seen, first.made) == (True, 2, 0)
    news.add("n-3", "En til")
    second = poll_feed(settings, feed)
    assert (second.first, second.made, len(second.post_ids)) == (False, 1, 2)
    assert poll_feed(settings, feed).not_modified


def test_the_loser_of_a_race_rolls_back_its_posts(news, tmp_path, monkeypatch):
    """A poller that read the entries before another one committed: its insert of the entry's
    row fails on the unique key, and the posts it wrote in the same transaction go with it."""
    import comms.feeds.poll as poll

    config = write_config(tmp_path, news.url + "/rss.xml")
    settings = load_settings(config)
    ensure_schema(settings.database_url)
    feed = settings.feeds["nyheder"]
    poll_feed(settings, feed)
    news.add("n-3", "Kun én gang")
    assert poll_feed(settings, feed).made == 1
    monkeypatch.setattr(poll, "_known", lambda url, name: {})  # as read before the other commit
    news.honour_validators = False
    late = poll_feed(settings, feed)
    assert (late.ok, late.made, late.taken) == (True, 0, 3)
    assert len(posts(settings.database_url)) == 2
    with session_scope(settings.database_url) as session:
        composed = session.exec(select(AuditEvent).where(AuditEvent.action == "compose")).all()
    assert len(composed) == 2


def test_daemon_once_polls_the_feeds_then_publishes_what_they_queued(news, tmp_path):
    config = write_config(
        tmp_path,
        news.url + "/rss.xml",
        feed_options="require_approval = false\nbackfill = true\n",
    )
    result = run_comms("--config", str(config), "daemon", "--once")
    assert result.returncode == 0, result.stderr
    made = posts(db_url(config))
    assert len(made) == 4
    assert {p.state for p in made} == {PostState.PUBLISHED}
    delivered = [json.loads(line) for line in (tmp_path / "stub.jsonl").read_text().splitlines()]
    assert sorted(d["text"].split(" (")[0] for d in delivered) == [
        "Nyt fortov på Boulevarden",
        "Vejarbejde i Vestbyen",
    ]
