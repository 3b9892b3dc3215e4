"""A real WordPress for the peer tests: found running, or started with our start script.

`tests/peers/scripts/wordpress.sh` installs Debian's WordPress (first run: apt, minutes),
recreates its database, serves it with PHP's built-in server and prints
`WORDPRESS ready at URL user=admin app_password=…`. The session fixture `wordpress`:
- uses a WordPress already answering at $COMMS_WP_URL (default http://127.0.0.1:8088), with the
  application password from $COMMS_WP_APP_PASSWORD, or else a new one made with PHP's CLI
  through Debian's `wp-load.php` (the start script drops the database, so it must never be run
  against a WordPress that is up);
- otherwise runs the start script (unless COMMS_WP_START=0), waits for the ready line, parses
  it, and stops the script's process group at the end of the session.
When no WordPress can be had the tests skip with the reason, except under CI=true, where a
peer test that cannot run is a failure, not a skip.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.peers.common import in_ci, run_until_ready, stop

SCRIPTS = Path(__file__).parent / "scripts"
START_SCRIPT = Path(os.environ.get("COMMS_WP_START_SCRIPT", SCRIPTS / "wordpress.sh"))
DEFAULT_URL = "http://127.0.0.1:8088"
READY = re.compile(r"WORDPRESS ready at (?P<url>\S+) user=(?P<user>\S+) app_password=(?P<pw>\S+)")
START_TIMEOUT = float(os.environ.get("COMMS_WP_START_TIMEOUT", 900))  # first run installs
STARTING_LOCK = Path("/tmp/comms-wp-peer.start.lock")  # held while checking or starting
USERS_LOCK = Path("/tmp/comms-wp-peer.users.lock")  # shared by every session using it
WP_LOAD = Path("/usr/share/wordpress/wp-load.php")


@dataclass(frozen=True)
class WordPress:
    """A reachable WordPress: its site URL, REST root, user and application password."""

    url: str
    api_url: str
    username: str
    password: str
    started_in: float | None = None  # seconds the start script took, when this session ran it


def unavailable(reason: str) -> None:
    """Skip loudly; under CI a missing peer is a failure."""
    message = f"REAL WORDPRESS NOT AVAILABLE - peer test not run: {reason}"
    if in_ci():
        pytest.fail(message + " (CI=true: peer tests must run)", pytrace=False)
    pytest.skip(message)


def rest_root(url: str, *, wait: float = 0) -> str | None:
    """The REST root, from the `Link: <…>; rel="https://api.w.org/"` header or by probing.

    Right after an install the first answers may lack the header, so `wait` seconds are given
    to a WordPress that answers at all.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            response = requests.get(url + "/", timeout=(3, 30))
        except requests.ConnectionError:
            return None
        except requests.RequestException:
            if time.monotonic() >= deadline:
                return None
            continue
        link = response.links.get("https://api.w.org/")
        if link:
            return link["url"]
        for root in (url + "/wp-json/", url + "/?rest_route=/"):
            try:
                probe = requests.get(root, timeout=5)
                if probe.ok and "namespaces" in probe.json():
                    return root
            except (requests.RequestException, ValueError):
                pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(1)


def new_app_password(username: str) -> str | None:
    """A fresh application password through PHP's CLI, as the start script makes its own."""
    php = shutil.which("php")
    if php is None or not WP_LOAD.is_file():
        return None
    code = (
        '$_SERVER["HTTP_HOST"]="127.0.0.1"; define("WP_USE_THEMES", false); '
        f'require "{WP_LOAD}"; $u = get_user_by("login", "{username}"); '
        "list($pw,$item)=WP_Application_Passwords::create_new_application_password("
        '$u->ID, ["name"=>"comms-tests-" . time()]); echo $pw;'
    )
    result = subprocess.run(
        [php, "-r", code], capture_output=True, text=True, timeout=60, check=False
    )
    password = result.stdout.strip()
    return password if result.returncode == 0 and re.fullmatch(r"\S{16,}", password) else None


def start(log: Path) -> tuple[subprocess.Popen[str], re.Match[str], float]:
    """Run the start script in its own process group; return it, its ready line and the time."""
    if not START_SCRIPT.is_file():
        unavailable(f"{START_SCRIPT} does not exist")
    if os.geteuid() != 0:
        unavailable(f"{START_SCRIPT} needs root (it installs packages and writes /etc/wordpress)")
    return run_until_ready(
        START_SCRIPT,
        ready=READY,
        timeout=START_TIMEOUT,
        log=log,
        unavailable=unavailable,
        # PHP's built-in server handles one request at a time, and WordPress's first pages
        # spawn WP-Cron as a request to itself (which then waits on api.wordpress.org)
        env={**os.environ, "PHP_CLI_SERVER_WORKERS": os.environ.get("PHP_CLI_SERVER_WORKERS", "4")},
    )


@pytest.fixture(scope="session")
def wordpress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPress]:
    """A real WordPress for this session (see the module docstring).

    Sessions may run side by side (pytest-xdist workers): an exclusive lock makes sure only one
    of them runs the start script (which drops the database), and every session holds a shared
    lock while it uses WordPress, so the one that started it stops it after the others ended.
    """
    process = None
    with STARTING_LOCK.open("a") as starting:
        fcntl.flock(starting, fcntl.LOCK_EX)
        found = _found_running()
        if found is None:
            process, found = _start_fresh(tmp_path_factory.mktemp("wp") / "start.log")
        users = USERS_LOCK.open("a")
        fcntl.flock(users, fcntl.LOCK_SH)  # before the start lock goes, so none starts anew
    try:
        yield found
    finally:
        if process is not None:
            with STARTING_LOCK.open("a") as starting:  # no session may join while it stops
                fcntl.flock(starting, fcntl.LOCK_EX)
                fcntl.flock(users, fcntl.LOCK_EX)  # waits for the sessions using it to end
                stop(process)
        users.close()


def _found_running() -> WordPress | None:
    """A WordPress already up at $COMMS_WP_URL, with an application password for it."""
    url = os.environ.get("COMMS_WP_URL", DEFAULT_URL).rstrip("/")
    username = os.environ.get("COMMS_WP_USER", "admin")
    api = rest_root(url)
    if api is None:
        if os.environ.get("COMMS_WP_START", "1") == "0":
            unavailable(f"nothing answers at {url} and COMMS_WP_START=0")
        if url != DEFAULT_URL:
            unavailable(f"nothing answers at {url}; the start script only serves {DEFAULT_URL}")
        return None
    password = os.environ.get("COMMS_WP_APP_PASSWORD") or new_app_password(username)
    if not password:
        unavailable(
            f"WordPress is up at {url} but no application password: "
            "set COMMS_WP_APP_PASSWORD (WordPress's PHP CLI was not usable here)"
        )
    return WordPress(url, api, username, str(password))


def _start_fresh(log: Path) -> tuple[subprocess.Popen[str], WordPress]:
    process, ready, took = start(log)
    site = ready["url"].rstrip("/")
    api = rest_root(site, wait=90)
    if api is None:
        stop(process)
        unavailable(f"the start script said ready but {site} gives no REST root")
    print(f"\nWordPress started by {START_SCRIPT} in {took:.0f} s")
    return process, WordPress(site, str(api), ready["user"], ready["pw"], started_in=took)
