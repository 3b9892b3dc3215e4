"""Shared set-up for the OAuth tests: a fake X with its authorisation server, a config naming
it, keys in the environment, and `connect_x`, which runs `comms channels connect` as a process
and plays the browser (follows the authorisation redirect with requests)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import requests

from comms.store.sealed import new_key
from tests.fakes.oauth import MARKER
from tests.fakes.x import FakeX

CLIENT_SECRET_ENV = "COMMS_TEST_X_CLIENT_SECRET"


def x_channel(fake: FakeX, name: str = "x") -> str:
    return textwrap.dedent(f"""
        [channels.{name}]
        type = "x"
        base_url = "{fake.url}"
        authorize_url = "{fake.url}{fake.oauth.authorize_path}"
        client_id = "{fake.oauth.client_id}"
        client_secret_env = "{CLIENT_SECRET_ENV}"
        user_id = "{fake.user["id"]}"
        """)


def oauth_env(fake: FakeX | None = None, key: str | None = None) -> dict[str, str]:
    env = {**os.environ, "COMMS_SECRET_KEY": key or new_key(), "PYTHONUNBUFFERED": "1"}
    if fake is not None:
        env[CLIENT_SECRET_ENV] = str(fake.oauth.client_secret)
    return env


def write_config(folder: Path, channels: str, extra: str = "") -> Path:
    """A comms.toml with `channels`, its schema ready; the path."""
    from comms.config import load_settings
    from comms.store.db import ensure_schema

    path = folder / "comms.toml"
    path.write_text(
        'timezone = "Europe/Copenhagen"\nrequire_approval = false\n'
        f'[database]\nurl = "sqlite:///{folder / "comms.db"}"\n'
        "[daemon]\ntick_seconds = 0.5\nbackoff_base_seconds = 1\nbackoff_cap_seconds = 2\n"
        + extra
        + channels,
        encoding="utf-8",
    )
    ensure_schema(load_settings(path).database_url)
    return path


def connect_command(config: Path, name: str, *extra: str) -> list[str]:
    """`comms channels connect NAME` as a test runs it: its listener on any free port, no
    browser, a 30-second wait; `extra` adds options such as --oauth1."""
    return [
        *(sys.executable, "-m", "comms", "--config", str(config)),
        *("channels", "connect", name, *extra),
        *("--port", "0", "--no-browser", "--timeout", "30"),
    ]


def connect_x(config: Path, env: dict[str, str], name: str = "x") -> tuple[str, str]:
    return connect_channel(config, env, name)


def connect_channel(config: Path, env: dict[str, str], name: str) -> tuple[str, str]:
    """`comms channels connect NAME` through its local listener; (stdout, stderr)."""
    process = subprocess.Popen(
        connect_command(config, name),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = lines_until_address(process)
    page = requests.get(lines[-1].strip(), timeout=10)  # the browser: service, then listener
    assert page.status_code == 200
    assert "adgang" in page.text
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return "".join(lines) + out, err


def lines_until_address(process: subprocess.Popen[str]) -> list[str]:
    """What `comms channels connect` prints up to and including the authorisation address."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("http"):
            return lines
    out, err = process.communicate(timeout=30)
    raise AssertionError(f"no address printed: {''.join(lines)}{out}{err}")


def assert_no_marker(*texts: str) -> None:
    for text in texts:
        assert MARKER not in text


def assert_file_clean(path: Path) -> None:
    for candidate in (path, Path(str(path) + "-wal")):
        if candidate.exists():
            assert MARKER.encode() not in candidate.read_bytes(), candidate
