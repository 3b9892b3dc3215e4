"""Nothing undocumented: every channel type in the README and the example config, every option
of its schema in the example config (and nothing else there), and every text limit in the docs.
All facts are read from the channel registry, where each adapter class declares them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from comms.channels.base import Channel
from comms.channels.registry import CHANNEL_TYPES, channel_class

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8")
TEMPLATES = (ROOT / "docs" / "templates.md").read_text(encoding="utf-8")

_HEADER = re.compile(r"^#?\s*\[(?P<table>[^\]]+)\]")
_KEY = re.compile(r"^#?\s*(?P<key>[a-z][a-z0-9_]*)\s*=\s*(?P<value>.*)")


def example_channel_sections(text: str = EXAMPLE) -> dict[str, tuple[str, set[str]]]:
    """[channels.NAME] tables of the example, commented out or not: name -> (type, keys)."""
    sections: dict[str, tuple[str, set[str]]] = {}
    name: str | None = None
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            table = header.group("table").strip()
            name = table.removeprefix("channels.") if table.startswith("channels.") else None
            if name:
                sections[name] = ("", set())
            continue
        key = _KEY.match(line)
        if name and key:
            kind, keys = sections[name]
            if key.group("key") == "type":
                kind = key.group("value").split('"')[1]
            sections[name] = (kind, keys | {key.group("key")})
    return sections


SECTIONS = example_channel_sections()
COMMON = {option.name for option in Channel.COMMON_OPTIONS}


@pytest.mark.parametrize("kind", CHANNEL_TYPES)
def test_every_channel_type_is_documented(kind):
    assert f"`{kind}`" in README
    assert f'type = "{kind}"' in EXAMPLE


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_the_example_shows_only_options_the_schema_declares(name):
    kind, keys = SECTIONS[name]
    unknown = sorted(keys - set(channel_class(kind).option_schema()))
    assert not unknown, f"[channels.{name}] shows options a {kind} channel has not: {unknown}"


@pytest.mark.parametrize("kind", CHANNEL_TYPES)
def test_the_example_shows_every_option_of_the_type(kind):
    shown = set().union(*(keys for k, keys in SECTIONS.values() if k == kind))
    own = {option.name for option in channel_class(kind).options}
    missing = sorted(own - shown)
    assert not missing, f"config.example.toml does not show these {kind} options: {missing}"


def test_the_example_shows_every_common_option_once_for_all():
    shown = set().union(*(keys for _, keys in SECTIONS.values()))
    assert shown >= COMMON, sorted(COMMON - shown)


def test_the_section_reader_sees_commented_tables():
    text = '[utm]\nmedium = "x"\n# [channels.m]\n# type = "mastodon"\n# language = "da"\n'
    assert example_channel_sections(text) == {"m": ("mastodon", {"type", "language"})}


@pytest.mark.parametrize("kind", CHANNEL_TYPES)
def test_the_lint_docs_state_each_text_limit(kind):
    limit = channel_class(kind).text_rule.max_length
    if limit is not None:
        assert f"{limit:,}" in TEMPLATES.split("## Lint", 1)[1].split("##", 1)[0]
