"""The feed template comms ships (templates/feeds/, and the starter's copy) makes drafts that pass
the lint on every channel of the starter config, for a long news item as for a short one, so a
new user who turns on the commented `[feeds.nyheder]` gets posts, not lint errors."""

from __future__ import annotations

import filecmp
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from comms.config import load_settings
from comms.content.render import TemplateRenderer
from comms.feeds.drafts import render_entry
from comms.feeds.parse import Entry, Feed
from comms.feeds.settings import FeedSettings
from tests.cli import comms_cli

ROOT = Path(__file__).resolve().parent.parent
LONG = (
    "Mørket er kommet, og med det flere ulykker med fodgængere og cyklister. Politiet og "
    "kommunen opfordrer alle til at bruge refleks og lys på cyklen. " * 12
)


@pytest.mark.parametrize("summary", ["Brug refleks i mørket.", LONG])
def test_the_shipped_feed_template_passes_the_lint_on_every_starter_channel(tmp_path, summary):
    result = CliRunner().invoke(comms_cli(), ["init", "--path", str(tmp_path / "comms.toml")])
    assert result.exit_code == 0, result.output
    settings = load_settings(tmp_path / "comms.toml")
    channels = tuple(
        name for name, c in settings.channels.items() if c.type not in ("instagram", "email")
    )
    feed = FeedSettings(
        name="nyheder",
        url="https://tryg.aalborg.dk/rss",
        channels=channels,
        template="feeds/nyhed",
        require_approval=True,
    )
    entry = Entry(
        key="n1",
        title="Husk refleksen, når mørket falder på i Aalborg",
        summary=summary,
        link="https://www.aalborg.dk/nyheder/refleks",
        image=None,
        published=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        updated=None,
    )
    rendered = render_entry(
        settings,
        TemplateRenderer(settings.templates_dir),
        feed,
        Feed(title="Tryg Aalborg", entries=[entry]),
        entry,
        now=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
    )
    assert rendered.problems == ()
    assert set(rendered.texts) == set(channels)
    for name, text in rendered.texts.items():
        assert "https://www.aalborg.dk/nyheder/refleks" in text, name
        assert "Husk refleksen" in text, name


def test_the_starter_ships_the_same_feed_templates():
    shipped = ROOT / "templates" / "feeds"
    starter = ROOT / "comms" / "starter" / "templates" / "feeds"
    names = sorted(p.name for p in shipped.glob("*.j2"))
    assert names == sorted(p.name for p in starter.glob("*.j2"))
    assert all(filecmp.cmp(shipped / n, starter / n, shallow=False) for n in names)
