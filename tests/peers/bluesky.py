"""A real Bluesky PDS for the peer tests: found running, or started with our start script.

`tests/peers/scripts/bluesky-pds.sh [WORKDIR]` runs the reference PDS (@atproto/dev-env
0.6.7, with an in-memory PLC directory, no network needed) under Node 24 from a pip wheel, on
127.0.0.1:${PDS_PORT:-2583}, and prints `PDS ready at URL`. Its work folder (WORKDIR, default
/tmp/comms-pds; here $COMMS_PDS_WORKDIR) holds the Python venv with Node, node_modules and the
rebuilt better-sqlite3: about 700 MB. **Cache that folder in CI.** Measured on the dev machine:
first run (pip + npm install + node-gyp rebuild) about 3 minutes; later starts a few seconds.

The session fixture `pds`:
- uses a PDS already answering at $COMMS_PDS_URL (default http://localhost:2583);
- otherwise runs the start script (unless COMMS_PDS_START=0) in its own process group, waits up
  to $COMMS_PDS_START_TIMEOUT seconds (default 900) for the ready line, and ends that process
  group after the session.
When no PDS can be had the tests skip with a loud reason, except under CI=true with the start
script present, where a peer test that cannot run is a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.peers.common import in_ci, run_until_ready, stop

SCRIPTS = Path(__file__).parent / "scripts"
START_SCRIPT = Path(os.environ.get("COMMS_PDS_START_SCRIPT", SCRIPTS / "bluesky-pds.sh"))
WORKDIR = Path(os.environ.get("COMMS_PDS_WORKDIR", "/tmp/comms-pds"))
DEFAULT_URL = f"http://localhost:{os.environ.get('PDS_PORT', '2583')}"
READY = re.compile(r"PDS ready at (?P<url>\S+)")
START_TIMEOUT = float(os.environ.get("COMMS_PDS_START_TIMEOUT", 900))  # first run installs


@dataclass(frozen=True)
class Pds:
    """A reachable PDS and, when this session started it, how long that took."""

    url: str
    started_in: float | None = None


@dataclass(frozen=True)
class Account:
    """A fresh account on the PDS with an app password, as a comms user would configure it."""

    handle: str
    did: str
    app_password: str


def unavailable(reason: str) -> None:
    """Skip loudly; under CI=true (with the start script present) a missing PDS is a failure."""
    message = f"REAL BLUESKY PDS NOT AVAILABLE - peer test not run: {reason}"
    if in_ci() and START_SCRIPT.is_file():
        pytest.fail(message + " (CI=true and the start script exists: peer tests must run)")
    pytest.skip(message)


def answers(url: str) -> bool:
    try:
        response = requests.get(f"{url}/xrpc/com.atproto.server.describeServer", timeout=3)
    except requests.RequestException:
        return False
    return response.ok


def start(log: Path) -> tuple[subprocess.Popen[str], str, float]:
    """Run the start script in its own process group; return it, the PDS URL and the time."""
    if not START_SCRIPT.is_file():
        unavailable(f"{START_SCRIPT} does not exist")
    process, match, took = run_until_ready(
        START_SCRIPT,
        str(WORKDIR),
        ready=READY,
        timeout=START_TIMEOUT,
        log=log,
        unavailable=unavailable,
    )
    return process, match["url"].rstrip("/"), took


@pytest.fixture(scope="session")
def pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pds]:
    """A real PDS for this session (see the module docstring)."""
    url = os.environ.get("COMMS_PDS_URL", DEFAULT_URL).rstrip("/")
    if answers(url):
        yield Pds(url)
        return
    if os.environ.get("COMMS_PDS_START", "1") == "0":
        unavailable(f"nothing answers at {url} and COMMS_PDS_START=0")
    process, ready_url, took = start(tmp_path_factory.mktemp("pds") / "start.log")
    try:
        if not answers(ready_url):
            unavailable(f"the start script said ready but {ready_url} does not answer")
        print(f"\nBluesky PDS started by {START_SCRIPT} in {took:.0f} s (work folder {WORKDIR})")
        yield Pds(ready_url, started_in=took)
    finally:
        stop(process)


def create_account(pds: Pds) -> Account:
    """A new account (the test PDS needs no invite) and an app password made for it."""
    handle = f"comms{uuid.uuid4().hex[:10]}.test"
    created = requests.post(
        f"{pds.url}/xrpc/com.atproto.server.createAccount",
        json={"handle": handle, "email": f"{handle}@example.dk", "password": uuid.uuid4().hex},
        timeout=30,
    )
    created.raise_for_status()
    session = created.json()
    made = requests.post(
        f"{pds.url}/xrpc/com.atproto.server.createAppPassword",
        json={"name": "comms"},
        headers={"Authorization": f"Bearer {session['accessJwt']}"},
        timeout=30,
    )
    made.raise_for_status()
    return Account(handle=handle, did=session["did"], app_password=made.json()["password"])
