"""The report's figures are the same on SQLite and PostgreSQL, and are what Python computes.

build_report does its work in SQL (a temporary table, covering indexes, medians by OFFSET; see
the docstrings in comms/report/figures.py), so the
same random history goes into both databases and the
groups must equal a reference computed here with plain Python from the same rows.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from comms.report.figures import IMPORTED, NO_CAMPAIGN, NO_FOCUS_AREA, Group, build_report
from comms.store.db import ensure_schema, session_scope
from comms.store.models import MetricSample, Post, PostState
from tests.pg import fresh_database

ZONE = ZoneInfo("Europe/Copenhagen")
CHANNELS = {"facebook": "facebook", "politi-facebook": "facebook", "hjemmeside": "site", "x": "x"}
START, END = date(2026, 1, 1), date(2026, 6, 30)


def history(seed: int) -> list[dict]:
    """Posts with their samples (newest counts; some have none, some none with figures)."""
    rng = random.Random(seed)
    posts = []
    for n in range(240):
        published = datetime(2025, 12, 20, tzinfo=UTC) + timedelta(hours=rng.randrange(24 * 200))
        samples = []
        for k in range(rng.choice([0, 1, 1, 2, 3])):
            figures = rng.random() > 0.1
            reach = rng.randrange(0, 30_000) if figures else None
            samples.append(
                {
                    "collected_at": published + timedelta(days=k + 1),
                    "reach": reach,
                    "impressions": reach * 2 if figures else None,
                    "engagements": rng.randrange(0, 900) if figures else None,
                }
            )
        imported = n % 9 == 0
        posts.append(
            {
                "plan_key": f"p{n}",
                "source": "import" if imported else "plan",
                "campaign": None if imported or n % 13 == 0 else f"kampagne-{n % 5}",
                "focus_area": None if n % 4 == 0 else f"Indsats {n % 3}",
                "channel": list(CHANNELS)[n % len(CHANNELS)] if n % 17 else "gammel-kanal",
                "state": PostState.PUBLISHED if n % 11 else PostState.FAILED,
                "published_at": published,
                "samples": samples,
            }
        )
    return posts


def store(url: str, posts: list[dict]) -> None:
    ensure_schema(url)
    with session_scope(url) as session:
        for item in posts:
            fields = {k: v for k, v in item.items() if k != "samples"}
            post = Post(text="Tekst", scheduled_at=item["published_at"], **fields)
            session.add(post)
            session.flush()
            for sample in item["samples"]:
                session.add(MetricSample(post_id=post.id, **sample))


def reference(posts: list[dict], kind: str) -> dict[str, Group]:
    """The groups of `kind` computed in Python from the rows themselves."""
    begin = datetime(2026, 1, 1, tzinfo=ZONE)
    stop = datetime(2026, 7, 1, tzinfo=ZONE)
    rows: dict[str, list[dict]] = defaultdict(list)
    for item in posts:
        if item["state"] != PostState.PUBLISHED or not begin <= item["published_at"] < stop:
            continue
        newest = max(item["samples"], key=lambda s: s["collected_at"], default={})
        campaign = item["campaign"] or (IMPORTED if item["source"] == "import" else NO_CAMPAIGN)
        key = {
            "channel": item["channel"],
            "channel_type": CHANNELS.get(item["channel"], item["channel"]),
            "campaign": campaign,
            "focus_area": item["focus_area"] or NO_FOCUS_AREA,
        }[kind]
        rows[key].append(newest)
    groups = {}
    for key, found in rows.items():
        reach = [s["reach"] for s in found if s.get("reach") is not None]

        def total(name: str, found: list[dict] = found) -> int | None:
            known = [s[name] for s in found if s.get(name) is not None]
            return sum(known) if known else None

        median = statistics.median(reach) if reach else None
        groups[key] = Group(
            name=key,
            posts=len(found),
            reach_known=len(reach),
            reach_min=min(reach, default=None),
            reach_max=max(reach, default=None),
            reach_median=int(median) if median is not None and median % 1 == 0 else median,
            reach_total=total("reach"),
            impressions=total("impressions"),
            engagements=total("engagements"),
        )
    return groups


@pytest.mark.parametrize("seed", [1, 2])
def test_sqlite_and_postgresql_give_the_figures_python_computes(tmp_path, seed: int):
    posts = history(seed)
    reports = []
    with fresh_database() as pg_url:
        for url in (f"sqlite:///{tmp_path / 'report.db'}", pg_url):
            store(url, posts)
            reports.append(
                build_report(url, start=START, end=END, zone=ZONE, channel_types=CHANNELS)
            )
    on_sqlite, on_postgresql = reports
    assert on_sqlite == on_postgresql
    for kind, groups in (
        ("channel", on_sqlite.channels),
        ("channel_type", on_sqlite.channel_type_groups),
        ("campaign", on_sqlite.campaigns),
        ("focus_area", on_sqlite.focus_areas),
    ):
        assert groups == reference(posts, kind), kind
    assert [(top.id, top.reach) for top in on_sqlite.top_posts] == reference_top(posts)


def reference_top(posts: list[dict]) -> list[tuple[int, int]]:
    """(id, reach) of the ten posts with the highest newest reach; ties: older first, then id."""
    begin = datetime(2026, 1, 1, tzinfo=ZONE)
    stop = datetime(2026, 7, 1, tzinfo=ZONE)
    ranked = []
    for post_id, item in enumerate(posts, start=1):  # ids in insertion order, as stored
        newest = max(item["samples"], key=lambda s: s["collected_at"], default={})
        if (
            item["state"] == PostState.PUBLISHED
            and begin <= item["published_at"] < stop
            and newest.get("reach") is not None
        ):
            ranked.append((-newest["reach"], item["published_at"], post_id))
    return [(post_id, -reach) for reach, _, post_id in sorted(ranked)[:10]]
