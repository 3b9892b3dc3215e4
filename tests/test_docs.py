"""Nothing undocumented: every channel type in the README and the example config, and every
option an adapter reads in config.example.toml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from comms.channels.registry import CHANNEL_TYPES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", CHANNEL_TYPES)
def test_every_channel_type_is_documented(kind):
    assert f"`{kind}`" in README
    assert f'type = "{kind}"' in EXAMPLE


@pytest.mark.parametrize(
    "module", sorted((ROOT / "comms" / "channels").glob("*.py")), ids=lambda p: p.stem
)
def test_every_adapter_option_is_in_the_example_config(module):
    if module.stem in ("stub", "base", "http", "registry", "__init__", "graph", "atom"):
        return
    source = module.read_text(encoding="utf-8")
    options = set(re.findall(r"settings\.(?:get|secret)\(\s*\"([a-z_]+)\"", source))
    missing = sorted(o for o in options if not re.search(rf"^#? ?{o} =", EXAMPLE, re.M))
    assert not missing, f"{module.name} reads undocumented options: {missing}"
