"""Notices to the team: once per event, through the configured channel, never per retry."""

from __future__ import annotations

import json
from pathlib import Path

from comms.publishing.daemon import Daemon
from comms.store.models import PostState
from tests.factories import add_post, get_post, stub_channel


def notices(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def settings_with_team(make_settings, tmp_path, fail: list[str], team_fail=(), **options):
    """A failing `stub` channel, and a `team` stub channel that receives the notices."""
    return make_settings(
        channels=stub_channel(tmp_path, fail=fail, **options)
        + stub_channel(tmp_path, "team", fail=list(team_fail))
        + '[notifications]\nchannel = "team"\ntoken_warning_days = 14\n'
    )


def test_failed_post_is_noticed_once(make_settings, tmp_path):
    settings = settings_with_team(make_settings, tmp_path, ["rejected"])
    post_id = add_post(settings.database_url)
    daemon = Daemon(settings)
    daemon.run_once()
    daemon.run_once()
    Daemon(settings).run_once()  # a restarted (or second) daemon does not repeat it
    sent = notices(tmp_path / "team.jsonl")
    assert len(sent) == 1
    assert sent[0]["text"].startswith(f"Post {post_id} (test, stub, due ")
    assert "Europe/Copenhagen) failed for good" in sent[0]["text"]
    assert "422 text too long" in sent[0]["text"]
    assert get_post(settings.database_url, post_id).state == PostState.FAILED


def test_paused_channel_and_unknown_post_are_noticed_once(make_settings, tmp_path):
    settings = settings_with_team(make_settings, tmp_path, ["unsure", "auth"])
    unknown, failed = add_post(settings.database_url), add_post(settings.database_url)
    daemon = Daemon(settings)
    daemon.run_once()
    daemon.run_once()
    assert get_post(settings.database_url, unknown).state == PostState.UNKNOWN
    assert get_post(settings.database_url, failed).state == PostState.FAILED
    texts = [n["text"] for n in notices(tmp_path / "team.jsonl")]
    assert len(texts) == 3
    assert sum("comms reconcile" in t for t in texts) == 1
    assert (
        sum(
            "Kanalen stub blev sat på pause" in t
            and "comms channels resume stub" in t
            and "comms channels connect stub" in t
            for t in texts
        )
        == 1
    )


def test_notice_that_could_not_be_sent_is_tried_again(make_settings, tmp_path):
    settings = settings_with_team(make_settings, tmp_path, ["rejected"], team_fail=["transient"])
    add_post(settings.database_url)
    daemon = Daemon(settings)
    daemon.run_once()
    assert notices(tmp_path / "team.jsonl") == []
    daemon.run_once()
    daemon.run_once()
    assert len(notices(tmp_path / "team.jsonl")) == 1


def test_expiring_token_is_noticed_well_before_once(make_settings, tmp_path):
    settings = settings_with_team(make_settings, tmp_path, [], token_expires_in_days=10)
    daemon = Daemon(settings)
    assert daemon.check_tokens() == 1
    assert daemon.check_tokens() == 0
    [notice] = notices(tmp_path / "team.jsonl")
    assert "udløber" in notice["text"]
    assert "(om 10 dage)" in notice["text"]
    assert "kanalen stub" in notice["text"]


def test_far_expiry_is_not_noticed(make_settings, tmp_path):
    settings = settings_with_team(make_settings, tmp_path, [], token_expires_in_days=50)
    assert Daemon(settings).check_tokens() == 0
    assert notices(tmp_path / "team.jsonl") == []


def test_notices_go_through_a_real_webhook_channel(make_settings, tmp_path, monkeypatch):
    from tests.fakes.webhook import FakeRelay

    monkeypatch.setenv("COMMS_TEST_HOOK_SECRET", "hook-secret-123")
    with FakeRelay("hook-secret-123") as relay:
        settings = make_settings(
            channels=stub_channel(tmp_path, fail=["rejected"])
            + f"""
            [channels.team]
            type = "webhook"
            url = "{relay.url}{relay.path}"
            secret_env = "COMMS_TEST_HOOK_SECRET"
            [notifications]
            channel = "team"
            """
        )
        post_id = add_post(settings.database_url)
        daemon = Daemon(settings)
        daemon.run_once()
        daemon.run_once()
        assert len(relay.deliveries) == 1
        body = relay.deliveries[0]["body"]
        assert body["title"] == f"comms: post {post_id} on stub failed for good"
        assert "422 text too long" in body["text"]
