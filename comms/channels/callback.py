"""The one-shot listener on 127.0.0.1 where a service's authorisation redirect lands.

It binds the loopback address only (nothing on the network can reach it), answers exactly one
request to its callback path and then closes; anything else (a browser's favicon request) gets
a 404 and does not end the wait. The query of that one request (`code`, `state`, or `error`) is
handed back; checking `state` is the caller's job.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from comms.errors import ConfigError

CALLBACK_PATH = "/callback"
DONE_PAGE = (
    "<!doctype html><html lang='da'><meta charset='utf-8'><title>comms</title>"
    "<p>{text}</p><p>Du kan lukke vinduet.</p></html>"
)


@dataclass
class Redirect:
    """What the service's redirect carried."""

    params: dict[str, str]

    @property
    def code(self) -> str | None:
        return self.params.get("code")

    @property
    def state(self) -> str | None:
        return self.params.get("state")

    @property
    def error(self) -> str | None:
        return self.params.get("error")


class CallbackListener:
    """Listen on 127.0.0.1:`port` (0: any free port) for one redirect."""

    def __init__(self, port: int = 0) -> None:
        listener = self
        self.result: Redirect | None = None
        self._done = threading.Event()
        self._stop = threading.Event()

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:  # the query holds the code: never log it
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != CALLBACK_PATH or listener._done.is_set():
                    self.send_error(404)
                    return
                query = {k: v[0] for k, v in parse_qs(parts.query).items() if v}
                listener.result = Redirect(query)
                ok = "code" in query or "oauth_verifier" in query
                text = "comms har fået adgang til kanalen." if ok else "Adgang blev ikke givet."
                body = DONE_PAGE.format(text=text).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.end_headers()
                self.wfile.write(body)
                listener._done.set()

        try:
            self._server = HTTPServer(("127.0.0.1", port), _Handler)
        except OSError as exc:
            raise ConfigError(
                f"kan ikke lytte på 127.0.0.1:{port} efter tilbagesendelsen: {exc.strerror}",
                hint="vælg en anden --port (den, der er registreret hos tjenesten), eller brug "
                "--paste",
            ) from None
        self._server.timeout = 0.2

    @property
    def redirect_uri(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}{CALLBACK_PATH}"

    def wait(self, timeout: float) -> Redirect:
        """Serve until the one redirect came, or `timeout` seconds passed."""
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        try:
            if not self._done.wait(timeout):
                raise ConfigError(
                    f"ingen tilbagesendelse kom inden for {timeout:g} s",
                    hint="kør kommandoen igen, eller brug --paste, hvis browseren ikke kan nå "
                    "denne maskine",
                )
        finally:
            self._stop.set()
            thread.join(5)
            self._server.server_close()
        assert self.result is not None
        return self.result

    def _serve(self) -> None:
        while not self._stop.is_set() and not self._done.is_set():
            self._server.handle_request()

    def close(self) -> None:
        self._server.server_close()
