"""Shared test factories: a config file and a fresh SQLite database in tmp_path."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from comms.config import Settings, load_settings
from comms.content.template_cache import ENV_VAR as TEMPLATE_CACHE_ENV
from comms.store.db import dispose_all, ensure_schema

# Property tests check behaviour, not speed (bench/ measures speed): on a loaded machine an
# example may take longer than hypothesis' default 200 ms deadline without anything being wrong.
ROOT = Path(__file__).resolve().parent.parent

hypothesis_settings.register_profile("comms", deadline=None)
hypothesis_settings.load_profile("comms")


@pytest.fixture(autouse=True, scope="session")
def _template_cache(tmp_path_factory: pytest.TempPathFactory):
    """Compiled templates go to a folder of the test session, never the user's own cache
    (commands run as subprocesses inherit it through the environment)."""
    before = os.environ.get(TEMPLATE_CACHE_ENV)
    os.environ[TEMPLATE_CACHE_ENV] = str(tmp_path_factory.mktemp("template-cache"))
    yield
    if before is None:
        os.environ.pop(TEMPLATE_CACHE_ENV, None)
    else:
        os.environ[TEMPLATE_CACHE_ENV] = before


@pytest.fixture(autouse=True)
def _fresh_engines():
    """Each test gets new engines, so a test's database never leaks into another."""
    yield
    dispose_all()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped campaigns and templates with the example config, in tmp_path,
    as the working folder of a user `anne` with no COMMS_CONFIG set."""
    shutil.copytree(ROOT / "campaigns", tmp_path / "campaigns")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copy(ROOT / "config.example.toml", tmp_path / "comms.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COMMS_CONFIG", raising=False)
    monkeypatch.setenv("COMMS_USER", "anne")
    return tmp_path


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Write a comms.toml into tmp_path (extra TOML appended) and load it, schema ready."""

    def build(
        extra: str = "", *, channels: str | None = None, approval: bool = True, schema: bool = True
    ) -> Settings:
        if channels is None:
            channels = f"""
            [channels.hjemmeside]
            type = "site"
            path = "site"

            [channels.stub]
            type = "stub"
            path = "{tmp_path / "stub.jsonl"}"

            [channels.facebook]
            type = "facebook"
            page_id = "1"
            token_env = "COMMS_TEST_FB_TOKEN"
            """
        body = (
            textwrap.dedent(f"""
            timezone = "Europe/Copenhagen"
            require_approval = {"true" if approval else "false"}
            [database]
            url = "sqlite:///{tmp_path / "comms.db"}"
            [daemon]
            tick_seconds = 0.5
            backoff_base_seconds = 1
            backoff_cap_seconds = 2
            """)
            + textwrap.dedent(channels)
            + textwrap.dedent(extra)
        )
        path = tmp_path / "comms.toml"
        path.write_text(body, encoding="utf-8")
        settings = load_settings(path)
        if schema:
            ensure_schema(settings.database_url)
        return settings

    return build
