"""A real OpenID Connect provider for the single sign-on tests (npm `oidc-provider`).

`tests/peers/scripts/oidc-provider/start.sh [WORKDIR]` installs the pinned package into WORKDIR
(here $COMMS_OIDC_WORKDIR, default ~/.cache/comms-tests/oidc-provider, outside the repository;
the first run fetches about 40 packages from the npm registry, some seconds) and serves the
provider on http://127.0.0.1:PORT until stopped, printing `OIDC ready at ISSUER`.

The session fixture `oidc_peer` picks a free port, registers two confidential clients (`comms`,
the one under test, and `other`, whose tokens carry the wrong audience for comms) and the test
accounts below, starts the script in its own process group and ends it after the session. When
Node or npm is missing the tests skip loudly, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.peers.common import in_ci, run_until_ready, stop

START_SCRIPT = Path(__file__).resolve().parent / "scripts" / "oidc-provider" / "start.sh"
WORKDIR = Path(
    os.environ.get("COMMS_OIDC_WORKDIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "comms-tests"
    / "oidc-provider"
)
READY = re.compile(r"OIDC ready at (?P<issuer>\S+)")
START_TIMEOUT = float(os.environ.get("COMMS_OIDC_START_TIMEOUT", 300))  # first run installs
TEST_CLIENT_CALLBACK = "http://localhost/login/oidc/callback"  # Starlette's TestClient host

# login -> the claims the provider puts in that person's ID token
ACCOUNTS: dict[str, dict[str, object]] = {
    "anna": {  # an approver at the police, by the provider's own role name
        "comms_roles": ["kommunikation-godkender"],
        "organisation": "politi",
        "email": "anna@politi.example.dk",
        "name": "Anna Holm",
    },
    "bo": {  # two roles: the higher one counts
        "comms_roles": ["kommunikation-laeser", "kommunikation-redaktoer"],
        "organisation": "Kommune",
        "email": "bo@kommune.example.dk",
    },
    "gitte": {  # signed in at the provider, but no role comms knows
        "comms_roles": ["hr-medarbejder"],
        "organisation": "region",
        "email": "gitte@region.example.dk",
    },
    "ole": {  # a role, but no organisation: that would mean every organisation
        "comms_roles": ["kommunikation-godkender"],
        "email": "ole@example.dk",
    },
}
ROLE_MAP = {
    "kommunikation-laeser": "viewer",
    "kommunikation-redaktoer": "editor",
    "kommunikation-godkender": "approver",
    "kommunikation-admin": "admin",
}


@dataclass(frozen=True)
class Client:
    """A client registered at the provider."""

    client_id: str
    client_secret: str


@dataclass(frozen=True)
class OidcPeer:
    """The running provider: its issuer, its clients, the accounts' passwords, a free port."""

    issuer: str
    comms: Client
    other: Client
    passwords: dict[str, str]
    app_port: int  # a port kept free for a comms served over real HTTP (its callback is registered)

    @property
    def app_callback(self) -> str:
        return f"http://127.0.0.1:{self.app_port}/login/oidc/callback"


def unavailable(reason: str) -> None:
    """Skip loudly; under CI a missing provider is a failure."""
    message = f"REAL OPENID PROVIDER NOT AVAILABLE - single sign-on test not run: {reason}"
    if in_ci():
        pytest.fail(message + " (CI=true: peer tests must run)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(issuer: str) -> bool:
    try:
        response = requests.get(issuer + "/.well-known/openid-configuration", timeout=5)
    except requests.RequestException:
        return False
    return response.ok and response.json().get("issuer") == issuer


@pytest.fixture(scope="session")
def oidc_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcPeer]:
    """The provider for this session (see the module docstring)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed")
    port, app_port = free_port(), free_port()
    comms = Client("comms", secrets.token_urlsafe(24))
    other = Client("other-app", secrets.token_urlsafe(24))
    callbacks = [TEST_CLIENT_CALLBACK, f"http://127.0.0.1:{app_port}/login/oidc/callback"]
    passwords = {login: secrets.token_urlsafe(12) for login in ACCOUNTS}
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_CLIENTS": json.dumps(
            [
                {
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                    "redirect_uris": callbacks,
                }
                for c in (comms, other)
            ]
        ),
        "OIDC_ACCOUNTS": json.dumps(
            {
                login: {"password": passwords[login], "claims": claims}
                for login, claims in ACCOUNTS.items()
            }
        ),
    }
    log = tmp_path_factory.mktemp("oidc") / "start.log"
    process, match, took = run_until_ready(
        START_SCRIPT,
        str(WORKDIR),
        ready=READY,
        timeout=START_TIMEOUT,
        log=log,
        unavailable=unavailable,
        env=env,
    )
    try:
        issuer = match["issuer"]
        if not answers(issuer):
            unavailable(f"the start script said ready but {issuer} does not answer")
        print(f"\nOpenID provider started at {issuer} in {took:.0f} s (work folder {WORKDIR})")
        yield OidcPeer(issuer, comms, other, passwords, app_port)
    finally:
        stop(process)
