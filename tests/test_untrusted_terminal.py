"""What the CLI prints of posts, imports and channels' answers cannot steer the terminal.

A post text with an OSC 8 link, a screen-clearing CSI sequence or rich markup is shown as the
text it is, in `queue list`, `queue show` and the report table.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from comms.config import Settings
from comms.content.terminal import terminal_line, terminal_text
from comms.store.db import session_scope
from comms.store.models import MetricSample, Post, PostState
from tests.cli import comms_cli
from tests.factories import add_post

HOSTILE = (
    "Klik her \x1b]8;;http://evil.example\x07Aalborg Kommune\x1b]8;;\x07 "
    "[red]rød[/red] [link=http://evil.example]link[/link]\x1b[2J\x1b[1;1H\rOVERSKREVET\x08"
    "\x9b31m\x9d0;titel\x9c\u202eslaf\u202c"
)
# what a terminal would obey: every escape and control character but newline and tab
_OBEYED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@given(st.text())
def test_no_control_character_survives(text: str):
    shown = terminal_text(text)
    assert not _OBEYED.search(shown)
    assert terminal_text(shown) == shown
    line = terminal_line(text)
    assert "\n" not in line
    assert "\t" not in line


@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cf", "Cs"])))
def test_printable_text_is_left_as_it_is(text: str):
    assert terminal_text(text) == text


def test_the_hostile_text_keeps_its_words():
    shown = terminal_text(HOSTILE)
    assert shown.startswith("Klik her Aalborg Kommune [red]rød[/red] [link=http://evil.example]")
    assert "OVERSKREVET" in shown
    assert "evil.example\x07" not in shown


@pytest.fixture
def hostile(make_settings) -> Settings:
    settings = make_settings()
    when = datetime(2026, 3, 2, 10, tzinfo=UTC)
    add_post(
        settings.database_url,
        text=HOSTILE,
        title="[bold]fed[/bold]\x1b[5m",
        campaign="[blink]kampagne[/blink]\x1b[5m",
        due=when,
    )
    with session_scope(settings.database_url) as session:
        post = Post(
            channel="stub",
            state=PostState.PUBLISHED,
            scheduled_at=when,
            published_at=when,
            campaign="[blink]kampagne[/blink]\x1b]0;titel\x07",
            title="[red]Top[/red]\x1b[2J",
            text="x",
        )
        session.add(post)
        session.flush()
        session.add(MetricSample(post_id=post.id, reach=500, impressions=900))
        session.add(
            Post(
                channel="stub",
                state=PostState.FAILED,
                scheduled_at=when,
                text="fejl",
                last_error="HTTP 400: \x1b]8;;http://evil.example\x07svar\x1b]8;;\x07 [red]x[/red]",
            )
        )
    return settings


def run(settings: Settings, *args: str, color: bool = False) -> str:
    env = {"FORCE_COLOR": "1", "COLUMNS": "200"} if color else {"COLUMNS": "200"}
    result = CliRunner().invoke(comms_cli(), ["--config", str(settings.path), *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def assert_obeys_nothing(output: str, *, color: bool) -> None:
    if color:  # rich's own styles (SGR: ESC [ ... m) may be there, nothing else
        output = re.sub(r"\x1b\[[0-9;]*m", "", output)
    assert not _OBEYED.search(output.replace("\n", "")), repr(output)


@pytest.mark.parametrize("color", [False, True])
def test_queue_list_and_show_print_data_as_text(hostile: Settings, color: bool):
    listed = run(hostile, "queue", "list", color=color)
    assert_obeys_nothing(listed, color=color)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", listed)
    assert "[bold]fed[/bold]" in plain  # markup shown, not obeyed
    shown = run(hostile, "queue", "show", "1", color=color)
    assert_obeys_nothing(shown, color=color)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)
    assert "[red]rød[/red]" in plain
    assert "Klik her Aalborg Kommune" in plain
    failed = run(hostile, "queue", "show", "3", color=color)
    assert_obeys_nothing(failed, color=color)
    assert "svar [red]x[/red]" in re.sub(r"\x1b\[[0-9;]*m", "", failed)


@pytest.mark.parametrize("color", [False, True])
def test_the_report_table_prints_names_and_titles_as_text(hostile: Settings, color: bool):
    output = run(hostile, "report", "--from", "2026-03-01", "--to", "2026-03-31", color=color)
    assert_obeys_nothing(output, color=color)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    assert "[blink]kampagne[/blink]" in plain
    assert "[red]Top[/red]" in plain
