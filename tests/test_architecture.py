"""The layering of docs/architecture.md, checked on the source: no stage imports one above it."""

from __future__ import annotations

import ast
from collections.abc import Collection
from pathlib import Path

import pytest

COMMS = Path(__file__).resolve().parent.parent / "comms"

# package (or top-level module) -> the packages it must never import; as docs/architecture.md says
NEVER = {
    "campaigns": {"store", "queue", "publishing", "channels", "web", "cli"},
    "content": {"store", "queue", "publishing", "web", "cli"},
    "plan": {"publishing", "web", "cli"},
    "validate": {"publishing", "web", "cli"},
    "store": {"queue", "publishing", "channels", "web", "cli"},
    "queue": {"publishing", "web", "cli"},
    "channels": {"config", "store", "queue", "publishing", "web", "cli"},
    "publishing": {"web", "cli"},
    "metrics": {"web", "cli"},
    "importer": {"publishing", "web", "cli"},
    "feeds": {"publishing", "web", "cli"},
    "report": {"publishing", "channels", "web", "cli"},
    "web": {"cli"},
    # the config builds each channel's settings and checks its type through the registry, and
    # reads each feed's table through feeds.settings (the door below)
    "config": {
        "feeds",
        "campaigns",
        "content",
        "store",
        "queue",
        "publishing",
        "importer",
        "report",
        "web",
        "cli",
    },
}
# the one door in a wall: reports name channel types as the registry's facts say, never
# touching an adapter's behaviour
DOORS = {"report": {"comms.channels.registry"}, "config": {"comms.feeds.settings"}}
CROSS_CUTTING = {"errors", "timeutil"}  # import no stage at all
STAGES = set(NEVER) | {"cli"}


def imported_stages(path: Path, doors: Collection[str] = ()) -> set[str]:
    """The comms packages and top-level modules a module imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "comms":
                names = [f"comms.{alias.name}" for alias in node.names]
        for name in names:
            if name in doors:
                continue
            parts = name.split(".")
            if parts[0] == "comms" and len(parts) > 1:
                found.add(parts[1])
    return found


def owner(path: Path) -> str:
    relative = path.relative_to(COMMS)
    return relative.parts[0].removesuffix(".py")


def modules() -> list[Path]:
    return sorted(p for p in COMMS.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(COMMS)))
def test_no_module_imports_a_stage_above_it(path: Path) -> None:
    stage = owner(path)
    forbidden = NEVER.get(stage, set()) & imported_stages(path, DOORS.get(stage, set()))
    if stage in CROSS_CUTTING:
        forbidden = (imported_stages(path) & STAGES) - {stage}
    assert not forbidden, f"{path.relative_to(COMMS)} imports {sorted(forbidden)}"


def test_the_top_level_stays_small() -> None:
    top = [p.name for p in COMMS.glob("*.py")]
    assert len(top) <= 12, sorted(top)


def test_every_package_says_what_it_does() -> None:
    for package in (p for p in COMMS.iterdir() if (p / "__init__.py").exists()):
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
        assert doc, f"{package.name}/__init__.py has no docstring"


def test_posts_change_only_through_the_queue() -> None:
    """One writer per state change: no module outside comms/queue writes an UPDATE of a post."""
    writers = [
        str(path.relative_to(COMMS))
        for path in modules()
        if owner(path) not in ("queue", "store") and "update(Post)" in path.read_text("utf-8")
    ]
    assert writers == []
