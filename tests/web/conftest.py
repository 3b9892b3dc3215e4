"""The workspace's test site: channels of two organisations, one account per role, and a
signed-in client per account (Starlette's TestClient against a real SQLite file)."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from comms import accounts, passwords
from comms.config import Settings
from comms.store.db import session_scope
from comms.store.models import Post
from comms.web import create_app
from tests.factories import channel_table
from tests.headless import CHROMIUM_ARGS, chromium
from tests.web.live import serving

PASSWORD = "blaa-mandag-2027-lygte"
ORIGIN = "http://localhost"
FB = {"token_env": "COMMS_TEST_FB_TOKEN"}
CHANNELS = "\n".join(
    (
        channel_table("hjemmeside", "site", path="site", organisation="kommune"),
        channel_table("kommune-facebook", "facebook", page_id="1", organisation="kommune", **FB),
        channel_table("kommune-x", "x", token_env="COMMS_TEST_X_TOKEN", organisation="kommune"),
        channel_table("politi-facebook", "facebook", page_id="2", organisation="politi", **FB),
    )
)
# username -> (role, organisation)
PEOPLE = {
    "eva": ("editor", "kommune"),
    "emil": ("editor", "kommune"),
    "anna": ("approver", "kommune"),
    "peter": ("approver", "politi"),
    "vera": ("viewer", None),
    "admin": ("admin", None),
}
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _cheap_hashes() -> Iterator[None]:
    """Argon2id with small parameters: the tests sign in dozens of times."""
    previous = passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    passwords.use_hasher(previous)


@pytest.fixture
def site(make_settings: Callable[..., Settings]) -> Settings:
    """Settings and a database with one account per role (all with PASSWORD)."""
    settings = make_settings(channels=CHANNELS)
    with session_scope(settings.database_url) as session:
        for name, (role, org) in PEOPLE.items():
            accounts.add_user(session, name, PASSWORD, role=role, organisation=org, actor="test")
    return settings


def add_post(settings: Settings, **values: object) -> int:
    """A post in the database (a draft on kommune-facebook in a week, unless told otherwise)."""
    row = {
        "channel": "kommune-facebook",
        "text": "Kom til Blå Mandag på Gammeltorv",
        "scheduled_at": datetime.now(UTC) + timedelta(days=7),
        "author": "eva",
        "state": "draft",
        **values,
    }
    with session_scope(settings.database_url) as session:
        post = Post(**row)
        session.add(post)
        session.flush()
        return int(post.id or 0)


class Client:
    """A browser-like client: remembers cookies and the page's CSRF token, sends Origin."""

    def __init__(self, settings: Settings) -> None:
        self.http = TestClient(create_app(settings), base_url=ORIGIN, follow_redirects=False)
        self.token = ""

    def get(self, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        response = self.http.get(path, **kwargs)
        found = (
            CSRF_RE.search(response.text)
            if "html" in response.headers.get("content-type", "")
            else None
        )
        if found:
            self.token = found.group(1)
        return response

    def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        *,
        origin: str | None = ORIGIN,
        token: str | None = None,
    ):  # type: ignore[no-untyped-def]
        headers = {"origin": origin} if origin else {}
        form = {"csrf_token": self.token if token is None else token, **(data or {})}
        return self.http.post(path, data=form, headers=headers)

    def sign_in(self, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
        self.get("/login")
        return self.post("/login", {"username": username, "password": password})


@pytest.fixture
def client(site: Settings) -> Iterator[Callable[[str | None], Client]]:
    """client("anna") is signed in as anna; client(None) is signed in as nobody."""
    made: list[Client] = []

    def build(username: str | None) -> Client:
        browser = Client(site)
        made.append(browser)
        if username is not None:
            response = browser.sign_in(username)
            assert response.status_code == 303, response.text
        return browser

    yield build
    for browser in made:
        browser.http.close()


# --- the browser (Chromium through Playwright) and the app served for real ------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium()
    if executable is None or importlib.util.find_spec("playwright") is None:
        pytest.fail("the browser tests need chromium (apt-get install chromium) and playwright")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def base(site: Settings) -> Iterator[str]:
    with serving(site) as url:
        yield url


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """open_page() is a new tab in its own context (its own cookies), failing on script errors."""
    contexts: list[Any] = []
    errors: list[str] = []

    def make(width: int = 1100) -> Any:
        context = browser.new_context(viewport={"width": width, "height": 900}, locale="da-DK")
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
        return page

    yield make
    for context in contexts:
        context.close()
    assert errors == [], errors
