"""Operators' commands: init, db upgrade/current, channels check/resume, reconcile, queue show."""

from __future__ import annotations

import sqlite3

from click.testing import CliRunner

from comms.channels.registry import build_adapters, create_channel
from comms.channels.settings import ChannelSettings
from comms.queue.transitions import outgoing_of, pause_channel
from comms.store.db import head_revision, session_scope
from comms.store.models import PostState
from tests.cli import comms_cli
from tests.factories import add_post, get_post, stub_channel

cli = comms_cli()


def run(settings, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, ["--config", str(settings.path), *args])
    assert result.exit_code == code, result.output
    return result.output


def test_init_writes_a_starter_config_and_the_schema(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "comms.toml").read_text().startswith("# comms configuration")
    assert "database ready" in result.output
    again = CliRunner().invoke(cli, ["init"])
    assert "exists; left as it is" in again.output


def test_db_upgrade_and_current(make_settings):
    settings = make_settings(schema=False)
    assert "database: empty" in run(settings, "db", "current")
    head = head_revision()  # from the migration scripts: each new migration moves it
    assert f"schema empty -> {head}" in run(settings, "db", "upgrade")
    assert f"database: {head}; needed: {head}" in run(settings, "db", "current")
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
    assert {"post", "attempt", "metric_sample", "audit_event", "channel_state"} <= tables


def test_database_file_is_private(make_settings):
    import os
    import stat

    settings = make_settings()
    mode = os.stat(settings.database_url.removeprefix("sqlite:///")).st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_channels_check_and_resume(make_settings, tmp_path):
    settings = make_settings()
    output = run(settings, "channels", "check", "hjemmeside", "stub")
    assert "hjemmeside" in output
    assert "writes to" in output
    with session_scope(settings.database_url) as session:
        pause_channel(session, "stub", "401")
    assert "Kanalen stub kører igen." in run(settings, "channels", "resume", "stub")
    run(settings, "channels", "check", "nope", code=1)


def test_reconcile_asks_the_channel_then_a_person(make_settings):
    settings = make_settings()
    url = settings.database_url
    found = add_post(url, channel="hjemmeside", state=PostState.UNKNOWN, title="Refleks")
    missing = add_post(url, channel="hjemmeside", state=PostState.UNKNOWN, title="Karneval")
    site = create_channel(settings.channels["hjemmeside"])
    site.publish(outgoing_of(get_post(url, found)))  # it did reach the site before the crash
    output = run(settings, "reconcile")
    assert f"post {found}: found on hjemmeside -> published" in output
    assert f"post {missing}: hjemmeside cannot confirm it" in output
    assert get_post(url, found).state == PostState.PUBLISHED
    assert get_post(url, missing).state == PostState.UNKNOWN
    assert f"post {missing}: queued" in run(settings, "reconcile", str(missing), "--resend")
    assert get_post(url, missing).state == PostState.QUEUED


def test_queue_show_has_text_attempts_and_history(make_settings):
    from comms.publishing.daemon import Daemon

    settings = make_settings()
    post_id = add_post(settings.database_url, text="Husk refleksen i mørket")
    Daemon(settings).run_once()
    output = run(settings, "queue", "show", str(post_id))
    assert f"post {post_id}: published" in output
    assert "Husk refleksen i mørket" in output
    assert "attempts" in output
    assert "publish" in output
    run(settings, "queue", "show", "999", code=1)


def test_config_option_works_after_the_command_too(make_settings):
    settings = make_settings()
    result = CliRunner().invoke(cli, ["queue", "list", "--config", str(settings.path)])
    assert result.exit_code == 0, result.output
    assert "0 post(s)" in result.output


def test_a_draft_never_reaches_a_channel_whatever_the_cli_is_asked(make_settings, tmp_path):
    from comms.publishing.daemon import Daemon

    settings = make_settings()
    post_id = add_post(settings.database_url, state=PostState.DRAFT)
    for args, code in [
        (("reschedule", str(post_id), "2020-01-01 10:00"), 0),
        (("reconcile", str(post_id), "--resend"), 1),
        (("reconcile", str(post_id), "--published"), 1),
        (("channels", "resume", "stub"), 0),
        (("daemon", "--once"), 0),
        (("metrics", "collect", "--all"), 0),
    ]:
        run(settings, *args, code=code)
    Daemon(settings).run_once()  # moved to 2020 unapproved: expired, not sent
    assert get_post(settings.database_url, post_id).state == PostState.EXPIRED
    assert not (tmp_path / "stub.jsonl").exists()


def test_reconcile_logs_in_once_per_channel(make_settings, monkeypatch):
    """Several unknown posts on one Bluesky account: one session, not one login per post."""
    from tests.fakes.bluesky import FakeBluesky

    monkeypatch.setenv("COMMS_TEST_BSKY", "app-pass-word")
    with FakeBluesky() as fake:
        settings = make_settings(
            channels=f"""
            [channels.bluesky]
            type = "bluesky"
            handle = "{fake.handle}"
            password_env = "COMMS_TEST_BSKY"
            base_url = "{fake.url}"
            """
        )
        for _ in range(3):
            add_post(settings.database_url, channel="bluesky", state=PostState.UNKNOWN)
        output = run(settings, "reconcile")
        assert output.count("bluesky cannot confirm it") == 3
        assert len(fake.calls("POST", "createSession")) == 1


def test_reconcile_does_not_ask_a_channel_whose_secret_is_not_set(make_settings, tmp_path):
    channel = stub_channel(tmp_path, name="politi", token_env="COMMS_TEST_UNSET_TOKEN")
    settings = make_settings(channels=channel)
    post_id = add_post(settings.database_url, channel="politi", state=PostState.UNKNOWN)
    output = run(settings, "reconcile")
    assert f"post {post_id}: politi cannot be asked while $COMMS_TEST_UNSET_TOKEN" in output
    assert get_post(settings.database_url, post_id).state == PostState.UNKNOWN


def test_one_rule_for_a_channel_without_its_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("COMMS_TEST_UNSET_TOKEN", raising=False)
    monkeypatch.setenv("COMMS_TEST_SET_TOKEN", "x" * 12)
    channels = [
        ChannelSettings(
            "a", "stub", {"path": str(tmp_path / "a"), "token_env": "COMMS_TEST_SET_TOKEN"}
        ),
        ChannelSettings(
            "b", "stub", {"path": str(tmp_path / "b"), "token_env": "COMMS_TEST_UNSET_TOKEN"}
        ),
    ]
    adapters, missing = build_adapters(channels)
    assert sorted(adapters) == ["a"]
    assert missing == {"b": ["COMMS_TEST_UNSET_TOKEN"]}


def test_a_look_up_that_fails_leaves_that_post_unknown_and_reconcile_goes_on(
    make_settings, monkeypatch
):
    """A service failing one look-up (503, timeout) must not stop the others being settled."""
    from tests.fakes.mastodon import FakeMastodon

    monkeypatch.setenv("COMMS_TEST_MASTODON", "reconcile-token")
    with FakeMastodon(token="reconcile-token") as fake:
        settings = make_settings(
            channels=f"""
            [channels.mastodon]
            type = "mastodon"
            token_env = "COMMS_TEST_MASTODON"
            base_url = "{fake.url}"
            timeout_seconds = 1
            """
        )
        url = settings.database_url
        first = add_post(url, channel="mastodon", state=PostState.UNKNOWN, text="Refleks først")
        second = add_post(url, channel="mastodon", state=PostState.UNKNOWN, text="Refleks så")
        adapter = create_channel(settings.channels["mastodon"])
        for post_id in (first, second):  # both reached the service before the daemon knew
            adapter.publish(outgoing_of(get_post(url, post_id)))
        fake.fail_next("503")  # the first look-up fails
        output = run(settings, "reconcile")
        assert f"post {first}: mastodon could not be asked" in output
        assert "left unknown" in output
        assert f"post {second}: found on mastodon -> published" in output
        assert get_post(url, first).state == PostState.UNKNOWN
        assert get_post(url, second).state == PostState.PUBLISHED
        assert f"post {first}: found on mastodon -> published" in run(settings, "reconcile")
