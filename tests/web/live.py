"""The workspace served for real (uvicorn on 127.0.0.1, a free port, in a thread), for the browser
tests and scripts/screenshots.py; or as a `comms serve` process of its own, for a second
workspace process on the same database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
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


@contextmanager
def comms_serve(settings: Settings) -> Iterator[str]:
    """`comms serve` in a process of its own (this process's environment) on a free port, until
    the block ends; yields its base URL."""
    assert settings.path is not None
    port = free_port()
    command = [sys.executable, "-m", "comms", "--config", str(settings.path), "serve"]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COMMS_CONFIG": str(settings.path)},
        cwd=settings.path.parent,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read() if process.stderr else "serve ended")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("comms serve did not start listening") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


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
