"""`comms serve` as a user runs it: uvicorn on 127.0.0.1, sign-in, a foreign Host refused."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from comms.config import Settings

pytestmark = pytest.mark.slow  # comms processes (and a server), as a user runs them


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read() if process.stderr else "serve ended")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("comms serve did not start listening")


def get(port: int, path: str, host: str | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers={"Host": host} if host else {})
    return connection.getresponse()


def test_comms_serve_answers_on_localhost(site: Settings):
    port = free_port()
    assert site.path is not None
    process = subprocess.Popen(
        [sys.executable, "-m", "comms", "--config", str(site.path), "serve", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COMMS_CONFIG": str(site.path)},
        cwd=Path(site.path).parent,
    )
    try:
        wait_for(port, process)
        login = get(port, "/login")
        assert login.status == 200
        assert 'name="username"' in login.read().decode()
        assert "default-src 'self'" in login.getheader("content-security-policy")
        assert get(port, "/").status == 303
        assert get(port, "/login", host="evil.example").status == 400
        assert get(port, "/login", host=f"localhost:{port}").status == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
