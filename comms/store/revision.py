"""Is the database at the newest migration? Answered without importing alembic when it is.

Alembic and the migration scripts it imports to learn the head are over 10 MB in a process
that, like the daemon, checks the schema once at start and never migrates. The head is read
from the scripts' `revision` / `down_revision` lines instead, and the database's revision from
`alembic_version`. Only an exact match is decided here; anything else (an older or newer
schema, an empty database, a branch, a script this reading does not understand) goes to
alembic, which gives the same answer and error as ever.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

_ASSIGNED = re.compile(
    r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(?:\"([^\"]*)\"|'([^']*)'|(None))\s*$",
    re.MULTILINE,
)


def declared_head(versions: Path) -> str | None:
    """The one head of the scripts in `versions`, or None when they are not a plain chain."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        found: dict[str, str | None] = {}
        for match in _ASSIGNED.finditer(script.read_text(encoding="utf-8")):
            key, double, single, none = match.groups()
            if key in found:
                return None  # assigned twice: leave it to alembic
            found[key] = None if none else (double if double is not None else single)
        revision = found.get("revision")
        if revision is None or "down_revision" not in found:
            return None
        revisions.add(revision)
        if found["down_revision"] is not None:
            parents.add(found["down_revision"])
    heads = revisions - parents
    if len(heads) != 1 or not parents <= revisions:
        return None
    return heads.pop()


def recorded_revision(engine: Engine) -> str | None:
    """The revision in `alembic_version` when there is exactly one, else None."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        rows = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    return rows[0][0] if len(rows) == 1 else None


def is_current(engine: Engine, versions: Path) -> bool:
    """True when the database is certainly at the scripts' head (False: ask alembic)."""
    head = declared_head(versions)
    return head is not None and recorded_revision(engine) == head
