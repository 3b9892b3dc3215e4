"""When figures are read after publishing, and storing them as samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from comms.errors import CommsError
from comms.metrics import collect_due, due_offset, parse_offset
from comms.store.db import session_scope
from comms.store.models import MetricSample, PostState
from tests.factories import SITE_CHANNEL, add_post, stub_channel

SCHEDULE = [timedelta(hours=1), timedelta(days=1), timedelta(days=7), timedelta(days=28)]
T0 = datetime(2027, 5, 29, 8, tzinfo=UTC)


def test_parse_offset():
    assert parse_offset("1h") == timedelta(hours=1)
    assert parse_offset("28d") == timedelta(days=28)
    assert parse_offset("30m") == timedelta(minutes=30)
    with pytest.raises(CommsError, match="not like 1h"):
        parse_offset("soon")


@pytest.mark.parametrize(
    ("now", "last", "expected"),
    [
        (T0 + timedelta(minutes=59), None, None),
        (T0 + timedelta(hours=1), None, timedelta(hours=1)),
        (T0 + timedelta(hours=5), T0 + timedelta(hours=1, minutes=1), None),
        (T0 + timedelta(days=1, hours=1), T0 + timedelta(hours=1), timedelta(days=1)),
        (T0 + timedelta(days=40), T0 + timedelta(days=1), timedelta(days=28)),
        (T0 + timedelta(days=40), T0 + timedelta(days=29), None),
    ],
)
def test_due_offset(now, last, expected):
    assert due_offset(T0, last, now, SCHEDULE) == expected


def test_collect_reads_each_post_once_per_schedule_step(make_settings, tmp_path):
    settings = make_settings(channels=stub_channel(tmp_path, reach=3555) + SITE_CHANNEL)
    url = settings.database_url
    published = utcnow_minus(hours=2)
    post_id = add_post(url, state=PostState.PUBLISHED, published_at=published, external_id="stub-1")
    add_post(url, channel="hjemmeside", state=PostState.PUBLISHED, published_at=published)
    first = collect_due(settings)
    assert first.collected == 1
    assert first.skipped_channels == {"hjemmeside"}
    assert collect_due(settings).collected == 0  # nothing new is due yet
    later = collect_due(settings, now=published + timedelta(days=1, minutes=1))
    assert later.collected == 1
    with session_scope(url) as session:
        samples = session.exec(select(MetricSample).where(MetricSample.post_id == post_id)).all()
    assert [s.reach for s in samples] == [3555, 3555]
    assert samples[0].impressions == 7110


def utcnow_minus(**delta) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def test_a_final_snapshot_is_taken_before_meta_stops_keeping_the_figures(
    make_settings, monkeypatch
):
    from comms.report.figures import build_report
    from comms.report.render import to_json_document, to_markdown
    from tests.fakes.graph import GraphFake

    now = datetime.now(UTC)
    with GraphFake(token="EAAB-final") as graph:
        monkeypatch.setenv("COMMS_TEST_FB_TOKEN", "EAAB-final")
        settings = make_settings(
            channels=f"""
            [channels.facebook]
            type = "facebook"
            page_id = "{graph.page_id}"
            token_env = "COMMS_TEST_FB_TOKEN"
            base_url = "{graph.url}/v24.0"
            """
        )
        url = settings.database_url
        ages = {"old": 720, "young": 100, "gone": 740}  # days since publishing
        ids = {}
        for name, days in ages.items():
            external_id = f"{graph.page_id}_{days}"
            graph.posts.append({"id": external_id, "message": name})
            graph.insights[external_id] = {"post_total_media_view_unique": days * 10}
            ids[name] = add_post(
                url,
                channel="facebook",
                state=PostState.PUBLISHED,
                published_at=now - timedelta(days=days),
                external_id=external_id,
                title=name,
            )
        summary = collect_due(settings, now=now)
        assert (summary.collected, summary.final) == (1, 1)  # the 720-day-old post only
        assert "1 final snapshot(s)" in summary.line()
        assert collect_due(settings, now=now + timedelta(days=1)).final == 0  # taken once
    with session_scope(url) as session:
        samples = session.exec(select(MetricSample)).all()
    assert [(s.post_id, s.reach, s.final) for s in samples] == [(ids["old"], 7200, True)]

    day = (now - timedelta(days=720)).astimezone(settings.zone).date()  # the day it shows on
    report = build_report(
        url, start=day, end=day, zone=settings.zone, channel_types={"facebook": "facebook"}
    )
    assert [(p.title, p.final) for p in report.top_posts] == [("old", True)]
    assert to_json_document(report)["top_posts"][0]["final"] is True
    assert "7.200 (endelig)" in to_markdown(report)
