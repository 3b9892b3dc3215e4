"""Loading campaign files: the typed specs, and errors that name the file, the line and the fix."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from comms.campaigns.loader import CampaignErrors, CampaignSet, StepSpec, load_campaign
from comms.errors import CampaignError, DateRuleError

KARNEVAL = """\
slug = "karneval"
title = "Aalborg Karneval"
focus_area = "Et trygt natteliv"
description = "Tryg fest i Kildeparken"

[variables]
link = "https://www.aalborg.dk/karneval"
politi_tlf = "114"

[event]
date = { type = "iso_week", week = 21, weekday = "lørdag" }

[[steps]]
name = "optakt"
offset_days = -7
time = "10:00"
channels = ["hjemmeside", "facebook", "instagram"]
audience = "forældre"
template = "karneval/optakt"
title = "Karneval om en uge"
link = "https://www.aalborg.dk/karneval/tryg"
image = "images/karneval.jpg"
alt = "Karnevalsoptog på Boulevarden"

[[steps]]
offset_days = 0
time = "08:00"
channels = ["facebook", "x"]
audience = "unge"
template = "karneval/dagen"
"""

STEP = """
[[steps]]
offset_days = 0
time = "08:00"
channels = ["facebook"]
audience = "alle"
template = "x/y"
"""


def campaign(event: str, *, slug: str | None = None, steps: str = STEP) -> str:
    head = f'slug = "{slug}"\n' if slug else ""
    return f'{head}title = "T"\nfocus_area = "F"\n\n[event]\n{event}\n{steps}'


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> CampaignError:
    with pytest.raises(CampaignError) as info:
        load_campaign(path)
    return info.value


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """The line of the nth (1-based; -1 the last) line containing `needle`."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth - 1 if nth > 0 else nth]


# --- one file --------------------------------------------------------------------------------


def test_the_documented_example_loads(tmp_path: Path) -> None:
    spec = load_campaign(write(tmp_path, "karneval.toml", KARNEVAL))
    assert (spec.slug, spec.title, spec.focus_area) == (
        "karneval",
        "Aalborg Karneval",
        "Et trygt natteliv",
    )
    assert spec.description == "Tryg fest i Kildeparken"
    assert spec.variables == {"link": "https://www.aalborg.dk/karneval", "politi_tlf": "114"}
    first, second = spec.steps
    assert first == StepSpec(
        name="optakt",
        offset_days=-7,
        time=time(10, 0),
        anchor="start",
        channels=("hjemmeside", "facebook", "instagram"),
        audience="forældre",
        template="karneval/optakt",
        title="Karneval om en uge",
        link="https://www.aalborg.dk/karneval/tryg",
        image="images/karneval.jpg",
        alt="Karnevalsoptog på Boulevarden",
        line=line_of(KARNEVAL, "[[steps]]", 1),
    )
    assert second.name == "step-2"
    assert second.line == line_of(KARNEVAL, "[[steps]]", 2)
    assert (second.title, second.image, second.alt, second.link) == (None, None, None, None)
    assert spec.image_path(first) == tmp_path / "images" / "karneval.jpg"
    assert spec.image_path(second) is None
    assert spec.event.line == line_of(KARNEVAL, "date = {")
    assert [o.date for o in spec.event.occurrences(2026, lambda s, y: [])] == [date(2026, 5, 23)]


def test_slug_defaults_to_the_file_name(tmp_path: Path) -> None:
    spec = load_campaign(write(tmp_path, "j-dag.toml", campaign('date = "event:x"')))
    assert spec.slug == "j-dag"
    assert spec.description == ""
    assert spec.variables == {}


def test_bad_file_name_as_slug(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "Jul Dag.toml", campaign('date = "event:x"')))
    assert "not a valid slug" in err.message
    assert "slug =" in (err.hint or "")


def test_syntax_error_reports_its_line(tmp_path: Path) -> None:
    text = KARNEVAL.replace('audience = "unge"', "audience = unge")
    path = write(tmp_path, "karneval.toml", text)
    err = error_of(path)
    assert err.path == path
    assert err.line == line_of(text, "audience = unge")
    assert "TOML syntax error" in err.message
    assert "(at line" not in err.message
    assert str(err).startswith(f"{path}:{err.line}: ")


def test_unknown_key_reports_its_line_and_a_suggestion(tmp_path: Path) -> None:
    text = KARNEVAL.replace('channels = ["facebook", "x"]', 'chanels = ["facebook", "x"]')
    err = error_of(write(tmp_path, "karneval.toml", text))
    assert err.line == line_of(text, "chanels =")
    assert "unknown key 'chanels'" in err.message
    assert "did you mean 'channels'?" in (err.hint or "")


def test_unknown_top_level_table(tmp_path: Path) -> None:
    text = KARNEVAL.replace("[variables]", "[variabels]")
    err = error_of(write(tmp_path, "karneval.toml", text))
    assert err.line == line_of(text, "[variabels]")
    assert "did you mean 'variables'?" in (err.hint or "")


def test_image_without_alt(tmp_path: Path) -> None:
    text = KARNEVAL.replace('alt = "Karnevalsoptog på Boulevarden"\n', "")
    err = error_of(write(tmp_path, "karneval.toml", text))
    assert err.line == line_of(text, "image =")
    assert "alt" in err.message
    assert 'alt = "' in (err.hint or "")


def test_missing_required_step_key_points_at_the_step(tmp_path: Path) -> None:
    text = KARNEVAL.replace('audience = "unge"\n', "")
    err = error_of(write(tmp_path, "karneval.toml", text))
    assert err.line == line_of(text, "[[steps]]", 2)
    assert "missing key 'audience' in step 2" in err.message


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('time = "08:00"', 'time = "8:00"', "not a time of day"),
        ('time = "08:00"', 'time = "24:00"', "not a time of day"),
        ('channels = ["facebook", "x"]', "channels = []", "non-empty list"),
        ('channels = ["facebook", "x"]', 'channels = ["x", "x"]', "listed twice"),
        ('audience = "unge"', 'audience = ""', "audience must be a non-empty text"),
        ('template = "karneval/dagen"', 'template = "karneval/dagen.j2"', "without .j2"),
        ("offset_days = 0", 'offset_days = "0"', "whole number"),
        ("offset_days = 0", 'offset_days = 0\nanchor = "end"', "needs a span event"),
        ("offset_days = 0", 'offset_days = 0\nname = "optakt"', "duplicate step name 'optakt'"),
    ],
)
def test_step_value_errors_point_at_their_line(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = KARNEVAL.replace(old, new)
    err = error_of(write(tmp_path, "karneval.toml", text))
    assert message in err.message
    assert err.line == line_of(text, new.splitlines()[-1], -1)


def test_steps_are_required(tmp_path: Path) -> None:
    text = KARNEVAL[: KARNEVAL.index("[[steps]]")]
    err = error_of(write(tmp_path, "karneval.toml", text))
    assert "missing key 'steps'" in err.message


def test_rule_error_points_at_the_rule_key(tmp_path: Path) -> None:
    # TOML forbids line breaks in inline tables, so spread the span over a sub-table.
    text = campaign(
        '[event.span]\nstart = { type = "fixed", month = 12, day = 20 }\n'
        'end = { type = "fixed", month = 12, dag = 31 }'
    ).replace("[event]\n", "")
    err = error_of(write(tmp_path, "jul.toml", text))
    assert "unknown key 'dag'" in err.message
    assert "did you mean 'day'?" in (err.hint or "")
    assert err.line == line_of(text, "dag = 31")


def test_explicit_dates_over_several_lines_point_at_the_year(tmp_path: Path) -> None:
    text = campaign(
        'date = { type = "explicit", dates = { 2026 = [\n  2026-04-18,\n], 26 = [2026-05-02] } }'
    )
    err = error_of(write(tmp_path, "blaa.toml", text))
    assert "'26' under dates is not a year" in err.message
    assert err.line == line_of(text, "], 26 = [")


def test_several_problems_in_one_file_are_all_reported(tmp_path: Path) -> None:
    text = KARNEVAL.replace('focus_area = "Et trygt natteliv"\n', "").replace(
        'time = "10:00"', 'time = "10"'
    )
    text = text.replace('time = "08:00"', 'time = "08:00"\nfarve = "rød"')
    with pytest.raises(CampaignErrors) as info:
        load_campaign(write(tmp_path, "karneval.toml", text))
    messages = [e.message for e in info.value.errors]
    assert any("missing key 'focus_area'" in m for m in messages)
    assert any("not a time of day" in m for m in messages)
    assert any("unknown key 'farve'" in m for m in messages)
    assert len(str(info.value).splitlines()) == len(info.value.errors) == 3


def test_anchor_end_on_a_span(tmp_path: Path) -> None:
    text = campaign(
        'span = { start = { type = "fixed", month = 12, day = 20 }, '
        'end = { type = "fixed", month = 12, day = 31 } }',
        steps=STEP.replace("offset_days = 0", 'offset_days = -1\nanchor = "end"'),
    )
    spec = load_campaign(write(tmp_path, "jul.toml", text))
    assert spec.steps[0].anchor == "end"
    (only,) = spec.event.occurrences(2026, lambda s, y: [])
    assert (only.start, only.end) == (date(2026, 12, 20), date(2026, 12, 31))


# --- a folder --------------------------------------------------------------------------------


def calendar_folder(folder: Path) -> Path:
    write(folder, "karneval.toml", KARNEVAL)
    write(
        folder,
        "boernekarneval.toml",
        campaign('date = { type = "relative", base = "event:karneval", offset_days = -7 }'),
    )
    write(
        folder,
        "vintertid.toml",
        campaign('date = { type = "nth_weekday", month = 10, weekday = "søndag", n = -1 }'),
    )
    write(
        folder,
        "refleksdag.toml",
        campaign('date = { type = "relative", base = "event:vintertid", offset_days = -3 }'),
    )
    write(
        folder,
        "j-dag.toml",
        campaign('date = { type = "nth_weekday", month = 11, weekday = "fredag", n = 1 }'),
    )
    write(
        folder,
        "julefrokost.toml",
        campaign(
            'series = { weekday = "fredag", from = { type = "relative", base = "event:j-dag" }, '
            'to = { type = "relative", base = { type = "fixed", month = 12, day = 24 }, '
            'align = { weekday = "fredag", direction = "before" } } }'
        ),
    )
    write(
        folder,
        "blaa-mandag.toml",
        campaign(
            'date = { type = "relative", base = { type = "explicit", dates = '
            "{ 2026 = [2026-04-18, 2026-04-25, 2026-05-02] } }, "
            'align = { weekday = "mandag", direction = "after" } }'
        ),
    )
    write(folder, "README.md", "not a campaign")
    return folder


def test_a_folder_resolves_references_across_files(tmp_path: Path) -> None:
    found = CampaignSet.load(calendar_folder(tmp_path))
    assert len(found) == 7
    assert [c.slug for c in found] == sorted(c.slug for c in found)
    assert "karneval" in found
    assert found.event_dates("boernekarneval", 2025) == [date(2025, 5, 17)]
    assert [found.event_dates("refleksdag", y)[0] for y in (2024, 2025, 2026, 2027)] == [
        date(2024, 10, 24),
        date(2025, 10, 23),
        date(2026, 10, 22),
        date(2027, 10, 28),
    ]
    fridays = [o.date for o in found.occurrences("julefrokost", 2024)]
    assert (fridays[0], fridays[-1], len(fridays)) == (date(2024, 11, 1), date(2024, 12, 20), 8)
    assert found.event_dates("julefrokost", 2024) == [date(2024, 11, 1)]
    mondays = [o.date for o in found.occurrences("blaa-mandag", 2026)]
    assert mondays == [date(2026, 4, 20), date(2026, 4, 27), date(2026, 5, 4)]


def test_get_unknown_slug_lists_the_known_ones(tmp_path: Path) -> None:
    found = CampaignSet.load(calendar_folder(tmp_path))
    with pytest.raises(CampaignError, match="no campaign with slug 'karnevl'") as info:
        found.get("karnevl")
    assert "karneval" in (info.value.hint or "")
    with pytest.raises(CampaignError) as info:
        found.get("zzz")
    assert "j-dag" in (info.value.hint or "")


def test_rule_errors_name_the_file_and_the_rule_line(tmp_path: Path) -> None:
    found = CampaignSet.load(calendar_folder(tmp_path))
    with pytest.raises(DateRuleError, match="explicit dates not configured for 2029") as info:
        found.occurrences("blaa-mandag", 2029)
    err = info.value
    assert err.path == tmp_path / "blaa-mandag.toml"
    assert err.line == 5
    assert "add `2029 = [" in str(err)


def test_error_in_a_referenced_campaign_names_that_campaign(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", campaign('date = { type = "explicit", dates = {} }'))
    write(tmp_path, "b.toml", campaign('date = { type = "relative", base = "event:a" }'))
    found = CampaignSet.load(tmp_path)
    with pytest.raises(DateRuleError) as info:
        found.occurrences("b", 2026)
    assert info.value.path == tmp_path / "a.toml"


def test_cycle_between_two_files(tmp_path: Path) -> None:
    a = write(tmp_path, "a.toml", campaign('date = { type = "relative", base = "event:b" }'))
    write(tmp_path, "b.toml", campaign('date = { type = "relative", base = "event:a" }'))
    with pytest.raises(CampaignErrors) as info:
        CampaignSet.load(tmp_path)
    (err,) = info.value.errors
    assert "a → b → a" in err.message
    assert (err.path, err.line) == (a, 5)


def test_self_reference_is_a_cycle(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", campaign('date = "event:a"'))
    with pytest.raises(CampaignErrors, match="a → a"):
        CampaignSet.load(tmp_path)


def test_unknown_event_reference(tmp_path: Path) -> None:
    write(tmp_path, "karneval.toml", KARNEVAL)
    born = write(
        tmp_path,
        "born.toml",
        campaign('date = { type = "relative", base = "event:karnevall", offset_days = -7 }'),
    )
    with pytest.raises(CampaignErrors) as info:
        CampaignSet.load(tmp_path)
    (err,) = info.value.errors
    assert "event:karnevall names no campaign" in err.message
    assert (err.path, err.line) == (born, 5)
    assert "did you mean 'karneval'?" in (err.hint or "")


def test_duplicate_slugs_name_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.toml", campaign('date = "event:x"', slug="same"))
    second = write(
        tmp_path, "b.toml", campaign('date = { type = "easter", offset_days = 0 }', slug="same")
    )
    with pytest.raises(CampaignErrors) as info:
        CampaignSet.load(tmp_path)
    text = str(info.value)
    assert "duplicate slug 'same'" in text
    assert str(first) in text
    assert str(second) in text


def test_all_errors_of_all_files_are_collected(tmp_path: Path) -> None:
    calendar_folder(tmp_path)
    broken = write(tmp_path, "broken.toml", "title = \n")
    typo = write(tmp_path, "typo.toml", KARNEVAL.replace("slug", "slgu"))
    bad_rule = write(tmp_path, "bad.toml", campaign('date = { type = "iso_week", week = 54 }'))
    uses_broken = write(tmp_path, "uses.toml", campaign('date = "event:broken"'))
    with pytest.raises(CampaignErrors) as info:
        CampaignSet.load(tmp_path)
    paths = [e.path for e in info.value.errors]
    assert broken in paths
    assert typo in paths
    assert bad_rule in paths
    assert uses_broken not in paths  # its only problem is the broken file, reported already
    assert all(e.line for e in info.value.errors)
    lines = str(info.value).splitlines()
    assert len(lines) == len(info.value.errors) >= 3


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match="folder not found"):
        CampaignSet.load(tmp_path / "nope")


def test_empty_folder_is_an_empty_set(tmp_path: Path) -> None:
    found = CampaignSet.load(tmp_path)
    assert len(found) == 0
    assert list(found) == []
