"""The start-up schema check: "up to date" decided without alembic, the rest left to it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from comms.errors import SchemaError
from comms.store.db import (
    MIGRATIONS_DIR,
    current_revision,
    ensure_schema,
    get_engine,
    head_revision,
    upgrade,
)
from comms.store.revision import declared_head, is_current, recorded_revision
from tests.pg import empty_database

BACKENDS = ["sqlite", "postgresql"]


def test_the_head_read_from_the_scripts_is_alembics_head():
    assert declared_head(MIGRATIONS_DIR / "versions") == head_revision()


def _script(folder, name, revision, down):
    down_text = "None" if down is None else f'"{down}"'
    (folder / f"{name}.py").write_text(
        f'"""m"""\nrevision: str = "{revision}"\ndown_revision: str | None = {down_text}\n',
        encoding="utf-8",
    )


def test_a_branch_or_an_unreadable_script_is_left_to_alembic(tmp_path):
    _script(tmp_path, "a", "0001", None)
    _script(tmp_path, "b", "0002", "0001")
    assert declared_head(tmp_path) == "0002"
    _script(tmp_path, "c", "0003", "0001")  # two heads
    assert declared_head(tmp_path) is None
    (tmp_path / "c.py").write_text('revision = "0003"\ndown_revision = ("0001", "0002")\n')
    assert declared_head(tmp_path) is None  # a merge: not read here
    (tmp_path / "c.py").write_text('revision = "0003"\ndown_revision = "0009"\n')
    assert declared_head(tmp_path) is None  # a parent no script has


@pytest.mark.parametrize("backend", BACKENDS)
def test_only_a_database_at_the_head_passes_without_alembic(backend, tmp_path):
    versions = MIGRATIONS_DIR / "versions"
    with empty_database(backend, tmp_path) as url:
        engine = get_engine(url)
        assert recorded_revision(engine) is None
        assert not is_current(engine, versions)
        upgrade(url, "0009")
        assert recorded_revision(engine) == current_revision(url) == "0009"
        assert not is_current(engine, versions)
        with pytest.raises(SchemaError, match="0009"):
            ensure_schema(url)
        upgrade(url)
        assert is_current(engine, versions)
        ensure_schema(url)


def test_a_process_checking_a_current_schema_imports_no_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    ensure_schema(url)  # creates it (through alembic)
    probe = (
        "import sys\n"
        "from comms.store.db import ensure_schema\n"
        f"ensure_schema({url!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith('alembic')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
