"""The shipped example campaigns: real campaigns from the strategy, each told to at least two
audiences on at least three channels, with dates for this year and next."""

from __future__ import annotations

from pathlib import Path

import pytest

from comms.campaigns.loader import CampaignSet

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGNS = CampaignSet.load(ROOT / "campaigns")
REQUIRED = [
    "karneval",
    "blaa-mandag",
    "sidste-skoledag",
    "julefrokost",
    "indbrud-sommerferie",
    "indbrud-efteraarsferie",
    "indbrud-juleferie",
    "refleks",
]


def test_the_strategy_campaigns_are_there():
    assert set(REQUIRED) <= {spec.slug for spec in CAMPAIGNS}


@pytest.mark.parametrize("slug", [spec.slug for spec in CAMPAIGNS])
def test_each_campaign_reaches_two_audiences_on_three_channels(slug):
    spec = CAMPAIGNS.get(slug)
    audiences = {step.audience for step in spec.steps}
    channels = {name for step in spec.steps for name in step.channels}
    assert len(audiences) >= 2, f"{slug}: audiences {audiences}"
    assert len(channels) >= 3, f"{slug}: channels {channels}"
    for step in spec.steps:
        if step.image:
            assert len(step.alt or "") > 15, f"{slug}/{step.name}: alt text too short"


@pytest.mark.parametrize("year", [2026, 2027])
def test_every_campaign_has_dates(year):
    for spec in CAMPAIGNS:
        assert CAMPAIGNS.occurrences(spec.slug, year), spec.slug


def test_known_dates():
    def first(slug: str, year: int) -> str:
        return CAMPAIGNS.occurrences(slug, year)[0].start.isoformat()

    assert first("karneval", 2026) == "2026-05-23"  # Saturday of ISO week 21
    assert first("karneval", 2027) == "2027-05-29"
    assert first("sidste-skoledag", 2026) == "2026-05-13"  # Aalborg's school plan
    assert [o.date.isoformat() for o in CAMPAIGNS.occurrences("blaa-mandag", 2026)] == [
        "2026-04-20",
        "2026-04-27",
        "2026-05-04",
    ]
    assert first("indbrud-efteraarsferie", 2026) == "2026-10-10"
    assert first("refleks", 2026) == "2026-10-22"
    fridays = CAMPAIGNS.occurrences("julefrokost", 2026)
    assert fridays[0].date.isoformat() == "2026-11-06"
    assert fridays[-1].date.isoformat() == "2026-12-18"
    assert all(o.date.weekday() == 4 for o in fridays)
