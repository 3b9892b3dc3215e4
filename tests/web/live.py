"""The workspace served for real (uvicorn on 127.0.0.1, a free port, in a thread), for the browser
tests and scripts/screenshots.py."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from comms.config import Settings
from comms.store.db import session_scope
from comms.store.models import Post
from comms.web import create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(settings: Settings, port: int | None = None) -> Iterator[str]:
    """The app on http://127.0.0.1:PORT (a free one unless given) until the block ends; yields
    the base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        create_app(settings, bound_host="127.0.0.1"),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the workspace did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sign_in(page: Any, base: str, username: str, password: str | None = None) -> Any:
    """Sign in through the form (with the test accounts' password unless told otherwise)."""
    from tests.web.conftest import PASSWORD

    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD if password is None else password)
    with page.expect_navigation() as navigation:
        page.click("form.login button[type=submit]")
    return navigation.value


def state_of(settings: Settings, post_id: int) -> Post:
    with session_scope(settings.database_url) as session:
        post = session.get(Post, post_id)
        assert post is not None
        return post
