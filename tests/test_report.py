"""`comms report`: posts and reach per channel, campaign and focus area; the Danish paragraph."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from rich.console import Console

from comms.config import Settings
from comms.importer.write import import_csv
from comms.report.figures import Group, Report, build_report
from comms.report.render import danish_summary, render_table, to_csv, to_json, to_markdown
from comms.store.db import session_scope
from comms.store.models import MetricSample, Post
from tests.cli import comms_cli

ZONE = ZoneInfo("Europe/Copenhagen")
HEADER = "channel,published_at,title,url,reach,impressions,engagements"
TYPES = {"hjemmeside": "site", "facebook": "facebook"}


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


def import_rows(settings: Settings, tmp_path: Path, *rows: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("\n".join((HEADER, *rows)) + "\n", encoding="utf-8")
    import_csv(settings, path, actor="test")


def add_post(
    settings: Settings,
    *,
    published_at: datetime | None,
    reach: int | None = None,
    channel: str = "facebook",
    state: str = "published",
    **fields: object,
) -> int:
    """A post as the planner and daemon would leave it, with one metric sample."""
    with session_scope(settings.database_url) as session:
        post = Post(
            channel=channel,
            state=state,
            published_at=published_at,
            scheduled_at=published_at or datetime(2019, 1, 1, tzinfo=UTC),
            **fields,
        )
        session.add(post)
        session.flush()
        if reach is not None:
            session.add(MetricSample(post_id=post.id, reach=reach))
        assert post.id is not None
        return post.id


def report_for(settings: Settings, start: date, end: date) -> Report:
    return build_report(settings.database_url, start=start, end=end, zone=ZONE, channel_types=TYPES)


# --- the example from the issue ------------------------------------------------------------


def issue_example_rows() -> list[str]:
    first = datetime(2018, 1, 14, 9, 0, tzinfo=ZONE)
    news = [
        f"hjemmeside,{(first + timedelta(days=3 * i)):%Y-%m-%d %H:%M},Nyhed {i},,,,"
        for i in range(95)
    ]
    reaches = ["3555", "25.056", "8000", "12000", "", "4100", "9999", "15000", "7000"]
    posts = [
        f"facebook,2018-{month:02d}-10T12:00:00+01:00,Opslag {month},,{reach},,"
        for month, reach in enumerate(reaches, start=2)
    ]
    return news + posts


EXAMPLE = (
    "Fra den 14. januar 2018 til den 7. januar 2019 har der været 95 nyheder og 9 opslag "
    "på Facebook, som har nået fra 3.555 til 25.056 personer."
)


def test_the_issue_example_gives_the_status_report_paragraph(settings: Settings, tmp_path: Path):
    import_rows(settings, tmp_path, *issue_example_rows())
    report = report_for(settings, date(2018, 1, 14), date(2019, 1, 7))
    assert report.channels["hjemmeside"].posts == 95
    assert report.channels["facebook"].posts == 9
    assert report.channels["hjemmeside"].reach_min is None
    assert danish_summary(report, TYPES) == EXAMPLE
    assert to_json(report)["summary"] == EXAMPLE


# --- the period: local dates, both included ------------------------------------------------


@pytest.mark.parametrize(
    ("local", "included"),
    [
        (datetime(2019, 1, 7, 23, 30, tzinfo=ZONE), True),  # 22:30 UTC on the last day
        (
            datetime(2019, 1, 8, 0, 30, tzinfo=ZONE),
            False,
        ),  # 23:30 UTC on the last day, local next day
        (
            datetime(2018, 1, 14, 0, 30, tzinfo=ZONE),
            True,
        ),  # 23:30 UTC the day before, local first day
        (datetime(2018, 1, 13, 23, 30, tzinfo=ZONE), False),
        (datetime(2018, 6, 30, 23, 59, tzinfo=ZONE), True),  # summer time inside the period
    ],
)
def test_from_and_to_are_local_days(settings: Settings, local: datetime, included: bool):
    add_post(settings, published_at=local.astimezone(UTC), reach=10)
    report = report_for(settings, date(2018, 1, 14), date(2019, 1, 7))
    assert report.totals.posts == (1 if included else 0)


def test_summer_time_boundaries(settings: Settings):
    add_post(settings, published_at=datetime(2019, 6, 30, 21, 59, tzinfo=UTC))  # 23:59 local
    add_post(settings, published_at=datetime(2019, 6, 30, 22, 0, tzinfo=UTC))  # 00:00 next day
    assert report_for(settings, date(2019, 6, 30), date(2019, 6, 30)).totals.posts == 1
    assert report_for(settings, date(2019, 7, 1), date(2019, 7, 1)).totals.posts == 1


def test_naive_and_offset_imports_land_on_their_local_day(settings: Settings, tmp_path: Path):
    import_rows(
        settings,
        tmp_path,
        "facebook,2019-01-07 23:30,naiv,,1,,",  # local: in
        "facebook,2019-01-07T23:30:00Z,utc,,2,,",  # 00:30 local on the 8th: out
        "facebook,2019-01-08T00:30:00+02:00,offset,,3,,",  # 23:30 local on the 7th: in
    )
    report = report_for(settings, date(2019, 1, 7), date(2019, 1, 7))
    assert report.totals.posts == 2
    assert (report.totals.reach_min, report.totals.reach_max) == (1, 3)


def test_only_published_posts_count(settings: Settings):
    when = datetime(2019, 1, 5, 12, tzinfo=UTC)
    add_post(settings, published_at=when, reach=5)
    add_post(settings, published_at=None, state="queued", reach=7)
    add_post(settings, published_at=when, state="failed", reach=9)
    report = report_for(settings, date(2019, 1, 1), date(2019, 1, 31))
    assert report.totals.posts == 1
    assert report.totals.reach_total == 5


# --- figures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reaches", "median"),
    [
        ([7], 7),
        ([1, 2, 100], 2),
        ([100, 1, 3, 2], 2.5),
        ([10, 20], 15),
        ([5, 5, 5, 6], 5),
        ([3555, 25056], 14305.5),
    ],
)
def test_median_with_odd_and_even_counts(settings: Settings, reaches: list[int], median: float):
    for reach in reaches:
        add_post(settings, published_at=datetime(2019, 1, 5, 12, tzinfo=UTC), reach=reach)
    add_post(settings, published_at=datetime(2019, 1, 5, 12, tzinfo=UTC))  # no figures
    group = report_for(settings, date(2019, 1, 5), date(2019, 1, 5)).channels["facebook"]
    assert group.posts == len(reaches) + 1
    assert group.reach_median == median
    assert group.reach_min == min(reaches)
    assert group.reach_max == max(reaches)
    assert group.reach_total == sum(reaches)


def test_the_newest_sample_counts(settings: Settings):
    post_id = add_post(settings, published_at=datetime(2019, 1, 5, 12, tzinfo=UTC))
    with session_scope(settings.database_url) as session:
        for hours, reach in ((1, 100), (24 * 28, 900), (24, 400)):
            session.add(
                MetricSample(
                    post_id=post_id,
                    reach=reach,
                    impressions=reach * 2,
                    engagements=hours,
                    collected_at=datetime(2019, 1, 5, 12, tzinfo=UTC) + timedelta(hours=hours),
                )
            )
    totals = report_for(settings, date(2019, 1, 1), date(2019, 1, 31)).totals
    assert (totals.reach_total, totals.impressions, totals.engagements) == (900, 1800, 672)


def test_groups_without_figures_have_none(settings: Settings):
    add_post(settings, published_at=datetime(2019, 1, 5, 12, tzinfo=UTC))
    report = report_for(settings, date(2019, 1, 5), date(2019, 1, 5))
    assert report.totals == Group(name="I alt", posts=1)
    assert to_json(report)["totals"] == {
        "posts": 1,
        "reach": {"known": 0, "min": None, "max": None, "median": None, "total": None},
        "impressions": None,
        "engagements": None,
    }
    assert danish_summary(report) == "Den 5. januar 2019 har der været 1 opslag på Facebook."


def test_per_campaign_and_focus_area(settings: Settings, tmp_path: Path):
    when = datetime(2019, 2, 4, 8, tzinfo=UTC)
    add_post(
        settings,
        published_at=when,
        reach=100,
        campaign="blaa-mandag",
        focus_area="Et trygt natteliv",
    )
    add_post(
        settings,
        published_at=when,
        reach=300,
        campaign="blaa-mandag",
        focus_area="Et trygt natteliv",
        channel="hjemmeside",
    )
    add_post(settings, published_at=when, reach=50, campaign="karneval", focus_area="Karneval")
    add_post(settings, published_at=when, reach=1)  # planned, no campaign
    import_rows(settings, tmp_path, "facebook,2019-02-04 10:00,Importeret,,20,,")
    report = report_for(settings, date(2019, 2, 1), date(2019, 2, 28))

    assert list(report.campaigns) == ["blaa-mandag", "karneval", "(importeret)", "(uden kampagne)"]
    assert report.campaigns["blaa-mandag"].posts == 2
    assert report.campaigns["blaa-mandag"].reach_median == 200
    assert report.campaigns["(importeret)"].reach_total == 20
    assert report.focus_areas["Et trygt natteliv"].posts == 2
    assert report.focus_areas["(uden indsatsområde)"].posts == 2
    assert report.channels["facebook"].posts == 4
    assert report.totals.posts == 5
    assert report.totals.reach_median == 50


# --- the Danish paragraph ------------------------------------------------------------------


def report_with(
    channels: dict[str, int],
    low: int | None = None,
    high: int | None = None,
    start: date = date(2026, 1, 1),
    end: date = date(2026, 6, 30),
) -> Report:
    groups = {name: Group(name=name, posts=posts) for name, posts in channels.items()}
    totals = Group(name="I alt", posts=sum(channels.values()), reach_min=low, reach_max=high)
    return Report(
        start=start,
        end=end,
        timezone="Europe/Copenhagen",
        channels=groups,
        campaigns={},
        focus_areas={},
        totals=totals,
    )


@pytest.mark.parametrize(
    ("channels", "types", "expected"),
    [
        ({"hjemmeside": 1}, TYPES, "1 nyhed"),
        ({"hjemmeside": 2}, TYPES, "2 nyheder"),
        ({"facebook": 1}, TYPES, "1 opslag på Facebook"),
        ({"facebook": 1, "hjemmeside": 1}, TYPES, "1 nyhed og 1 opslag på Facebook"),
        (
            {"ig": 2, "nyhedsbrev": 1, "hjemmeside": 1200, "facebook": 3},
            {**TYPES, "ig": "instagram", "nyhedsbrev": "email"},
            "1.200 nyheder, 1 nyhedsbrev, 3 opslag på Facebook og 2 opslag på Instagram",
        ),
        (
            {"fb-politi": 2, "facebook": 3},
            {"fb-politi": "facebook", "facebook": "facebook"},
            "5 opslag på Facebook",
        ),
        ({"x": 1, "li": 2}, {"x": "x", "li": "linkedin"}, "1 opslag på X og 2 opslag på LinkedIn"),
        (
            {"m": 1, "b": 1, "hook": 2, "wp": 3},
            {"m": "mastodon", "b": "bluesky", "hook": "webhook", "wp": "wordpress"},
            "3 nyheder, 1 opslag på Mastodon, 1 opslag på Bluesky og 2 beskeder",
        ),
        ({"hook": 1}, {"hook": "webhook"}, "1 besked"),
        ({"nyhedsbrev": 4}, {"nyhedsbrev": "email"}, "4 nyhedsbreve"),
    ],
)
def test_paragraph_names_channel_kinds_in_danish(
    channels: dict[str, int], types: dict[str, str], expected: str
):
    text = danish_summary(report_with(channels), types)
    assert text == f"Fra den 1. januar 2026 til den 30. juni 2026 har der været {expected}."


def test_paragraph_reach_clause():
    text = danish_summary(report_with({"facebook": 2}, 3555, 25056), TYPES)
    assert text.endswith("2 opslag på Facebook, som har nået fra 3.555 til 25.056 personer.")
    one = danish_summary(report_with({"facebook": 1}, 3555, 3555), TYPES)
    assert one.endswith("1 opslag på Facebook, som har nået 3.555 personer.")


def test_paragraph_without_posts():
    assert danish_summary(report_with({}), TYPES) == (
        "Fra den 1. januar 2026 til den 30. juni 2026 har der ikke været nogen nyheder "
        "eller opslag."
    )


def test_paragraph_for_one_day():
    report = report_with({"hjemmeside": 1}, start=date(2019, 1, 14), end=date(2019, 1, 14))
    assert danish_summary(report, TYPES) == "Den 14. januar 2019 har der været 1 nyhed."


# --- renderers -----------------------------------------------------------------------------


@pytest.fixture
def example(settings: Settings, tmp_path: Path) -> Report:
    import_rows(settings, tmp_path, *issue_example_rows())
    return report_for(settings, date(2018, 1, 14), date(2019, 1, 7))


def test_json_has_exactly_the_documented_shape(example: Report):
    data = json.loads(json.dumps(to_json(example)))
    assert set(data) == {"period", "channels", "campaigns", "focus_areas", "totals", "summary"}
    assert data["period"] == {"from": "2018-01-14", "to": "2019-01-07"}
    assert data["channels"]["facebook"] == {
        "posts": 9,
        "reach": {"known": 8, "min": 3555, "max": 25056, "median": 8999.5, "total": 84710},
        "impressions": None,
        "engagements": None,
    }
    assert data["channels"]["hjemmeside"]["posts"] == 95
    for section in ("channels", "campaigns", "focus_areas"):
        for group in data[section].values():
            assert set(group) == {"posts", "reach", "impressions", "engagements"}
            assert set(group["reach"]) == {"known", "min", "max", "median", "total"}
    assert data["campaigns"]["(importeret)"]["posts"] == 104
    assert data["totals"]["posts"] == 104
    assert data["summary"] == EXAMPLE


def test_csv_has_one_row_per_group(example: Report):
    rows = list(csv.DictReader(io.StringIO(to_csv(example))))
    assert list(rows[0]) == [
        "group_kind",
        "name",
        "posts",
        "reach_known",
        "reach_min",
        "reach_max",
        "reach_median",
        "reach_total",
        "impressions",
        "engagements",
        "period_from",
        "period_to",
    ]
    kinds = [(row["group_kind"], row["name"]) for row in rows]
    assert kinds == [
        ("channel", "facebook"),
        ("channel", "hjemmeside"),
        ("campaign", "(importeret)"),
        ("focus_area", "(uden indsatsområde)"),
        ("total", "total"),
    ]
    assert rows[0]["reach_min"] == "3555"
    assert (rows[0]["posts"], rows[0]["reach_known"]) == ("9", "8")
    assert rows[1]["reach_min"] == ""
    assert {(row["period_from"], row["period_to"]) for row in rows} == {
        ("2018-01-14", "2019-01-07")
    }


def test_markdown_has_tables_in_danish_and_the_paragraph(example: Report):
    text = to_markdown(example)
    assert "## Kanaler" in text
    assert "## Kampagner" in text
    assert "## Indsatsområder" in text
    assert "| facebook | 9 | 8 af 9 | 3.555 | 25.056 | 8.999,5 | 84.710 | – | – |" in text
    assert text.rstrip().endswith(EXAMPLE)


def test_rich_tables_show_every_group(example: Report):
    console = Console(file=io.StringIO(), width=140, color_system=None)
    for table in render_table(example):
        console.print(table)
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    for name in ("facebook", "hjemmeside", "(importeret)", "(uden indsatsområde)", "I alt"):
        assert name in shown
    assert "25.056" in shown


# --- the command ---------------------------------------------------------------------------


def run(settings: Settings, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(comms_cli(), ["--config", str(settings.path), "report", *args])


def test_cli_table_ends_with_the_paragraph(settings: Settings, tmp_path: Path):
    import_rows(settings, tmp_path, *issue_example_rows())
    result = run(settings, "--from", "2018-01-14", "--to", "2019-01-07")
    assert result.exit_code == 0, result.output
    assert "Kanaler" in result.output
    assert "hjemmeside" in result.output
    assert result.output.rstrip().endswith(EXAMPLE)


def test_cli_json(settings: Settings, tmp_path: Path):
    import_rows(settings, tmp_path, *issue_example_rows())
    result = run(settings, "--from", "2018-01-14", "--to", "2019-01-07", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["channels"]["facebook"]["reach"]["max"] == 25056
    assert data["summary"] == EXAMPLE


@pytest.mark.parametrize(
    ("fmt", "needle"),
    [
        ("csv", "group_kind,name"),
        ("md", "## Kanaler"),
        ("table", "Kanaler"),
        ("json", '"channels"'),
    ],
)
def test_cli_out_writes_a_file(settings: Settings, tmp_path: Path, fmt: str, needle: str):
    out = tmp_path / f"rapport.{fmt}"
    result = run(
        settings, "--from", "2019-01-01", "--to", "2019-12-31", "--format", fmt, "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert result.output == ""
    text = out.read_text(encoding="utf-8")
    assert needle in text
    if fmt != "csv":
        assert "har der ikke været nogen nyheder eller opslag." in text


def test_cli_from_after_to_is_an_error(settings: Settings):
    result = run(settings, "--from", "2019-02-01", "--to", "2019-01-31")
    assert result.exit_code == 2
    assert "before --from" in result.output


def test_cli_bad_date_is_an_error(settings: Settings):
    result = run(settings, "--from", "14-01-2019", "--to", "2019-01-31")
    assert result.exit_code == 2
    assert "is not a date like" in result.output


def test_cli_report_help_has_an_example():
    result = CliRunner().invoke(comms_cli(), ["report", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "comms report --from" in result.output
