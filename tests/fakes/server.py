"""The base of every fake service: a real HTTP server on 127.0.0.1 in a background thread.

A fake records every request, routes it to a handler the subclass registers, and can be told
to fail the next calls the way real services fail: 500/502/503, 429 with Retry-After (seconds or
an HTTP date), a timeout, a reset connection, a malformed body, an expired token; and, to test
"did it go through?", faults that strike *after* the service accepted the post.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import json
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAULTS = (
    "500",
    "502",
    "503",
    "429",
    "429-date",
    "timeout",
    "reset",
    "malformed",
    "expired",
    "after-500",
    "after-timeout",
    "after-reset",
    # answers of the wrong shape, size or speed (tests of what comms does with untrusted answers)
    "drip",  # a 200 whose body comes one byte every `delay` seconds
    "drip-head",  # a 200 whose status line and headers already come a byte every `delay` s
    "huge",  # a 200 of 2 MiB of JSON
    "after-drip",  # the service took the post; its real answer comes one byte every `delay` s
    "after-huge",  # the service took the post; the answer is 2 MiB of JSON
    "after-garbage",  # the service took the post; the answer is JSON of the wrong shape
    "after-answer",  # the service took the post; the answer is `answer` (a RawAnswer), as it is
    "answer",  # the service did nothing; the answer is `answer` (a RawAnswer), as it is
)
HUGE = b'{"id": "1", "pad": "' + b"x" * (2 << 20) + b'"}'
GARBAGE = b'[{"id": ["not", "an", "id"]}, null, true]'


@dataclass
class RawAnswer:
    """An answer byte for byte, for fuzzing: status, headers, body, how fast, how whole."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drip: float = 0.0  # seconds between bytes of the body (0: all at once)
    truncate: bool = False  # promise the whole body in Content-Length, send half, hang up
    drip_head: bool = False  # drip the status line and headers too, not only the body


@dataclass
class Request:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match[str] | None = None
    # when it was read (wall clock, as the test process sees it): tests compare it with a commit
    received_at: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8", "replace"))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def multipart(self) -> dict[str, tuple[str | None, bytes]]:
        """Parts of a multipart/form-data body: name -> (filename, content)."""
        content_type = self.header("content-type") or ""
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + self.body
        )
        parts: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                parts[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
        return parts


@dataclass
class Response:
    """What a handler answers."""

    status: int = 200
    body: Any = None  # dict/list -> JSON; bytes/str as they are
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


@dataclass
class Fault:
    kind: str
    retry_after: float = 30
    delay: float = 3.0
    path: str | None = None  # only requests whose path contains this
    answer: RawAnswer | None = None  # for "after-answer"


class FakeServer:
    """Subclass and register routes with `self.route(method, regex, handler)`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._in_flight = 0  # requests being answered (a late answer is still in flight)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- set-up -----------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))

    def fail_next(self, kind: str, times: int = 1, **options: Any) -> None:
        """Make the next `times` matching requests fail in this way."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        for _ in range(times):
            self.faults.append(Fault(kind, **options))

    def reset(self) -> None:
        """Forget requests and pending faults; subclasses forget their own state as well."""
        with self._lock:
            self.requests.clear()
            self.faults.clear()

    def check_auth(self, request: Request) -> Response | None:
        """Return an error response when the request's credentials are wrong (subclasses)."""
        return None

    def expired_response(self) -> Response:
        """What the service answers for an expired token (subclasses refine)."""
        return Response(401, {"error": "invalid_token", "message": "The access token expired"})

    # --- running ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: with Nagle on, the body waits for the
            # client's delayed ACK of the headers (~40 ms on Linux), so every call took about
            # latency + 40 ms and bench/publish measured the fake, not the daemon
            disable_nagle_algorithm = True

            def log_message(self, *_args: Any) -> None:
                pass

            def _serve(self) -> None:
                with fake._lock:
                    fake._in_flight += 1
                try:
                    fake._handle(self)
                finally:
                    with fake._lock:
                        fake._in_flight -= 1

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- request handling -------------------------------------------------------------------

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in list(self.faults):
                if fault.path is None or fault.path in path:
                    self.faults.remove(fault)
                    return fault
        return None

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        parts = urlsplit(http.path)
        request = Request(
            method=http.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in http.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(request)
        fault = self._take_fault(parts.path)
        if fault is not None and not fault.kind.startswith("after-"):
            self._before_fault(http, fault)
            return
        response = self.check_auth(request) or self._route(request)
        if fault is not None and fault.kind.startswith("after-"):
            # the handler ran: the service has the post; now the answer goes wrong
            if fault.kind == "after-500":
                response = Response(500, {"error": "Internal Server Error"})
            elif fault.kind == "after-timeout":
                time.sleep(fault.delay)  # the late answer IS the fault: the client times out
            elif fault.kind == "after-reset":
                _reset(http)
                return
            elif fault.kind == "after-drip":
                payload = json.dumps(response.body).encode() if response.body else b"{}"
                _send_raw(http, RawAnswer(response.status, _JSON, payload, drip=fault.delay))
                return
            elif fault.kind == "after-huge":
                _send_raw(http, RawAnswer(200, _JSON, HUGE))
                return
            elif fault.kind == "after-garbage":
                _send_raw(http, RawAnswer(200, _JSON, GARBAGE))
                return
            elif fault.kind == "after-answer":
                _send_raw(http, fault.answer or RawAnswer())
                return
        _send(http, response)

    def _before_fault(self, http: BaseHTTPRequestHandler, fault: Fault) -> None:
        kind = fault.kind
        if kind in ("500", "502", "503"):
            _send(http, Response(int(kind), {"error": f"HTTP {kind}"}))
        elif kind == "429":
            _send(
                http,
                Response(
                    429,
                    {"error": "Too Many Requests"},
                    {"Retry-After": str(int(fault.retry_after))},
                ),
            )
        elif kind == "429-date":
            when = datetime.now(UTC) + timedelta(seconds=fault.retry_after)
            _send(
                http,
                Response(
                    429,
                    {"error": "Too Many Requests"},
                    {"Retry-After": email.utils.format_datetime(when, usegmt=True)},
                ),
            )
        elif kind == "timeout":
            time.sleep(fault.delay)  # the stall IS the fault: the client times out
            _send(http, Response(504, {"error": "late"}))
        elif kind == "reset":
            _reset(http)
        elif kind == "malformed":
            _send(http, Response(200, b'{"id": "12', {"Content-Type": "application/json"}))
        elif kind == "expired":
            _send(http, self.expired_response())
        elif kind == "drip":
            _send_raw(http, RawAnswer(200, _JSON, b'{"id": "' + b"7" * 200 + b'"}', fault.delay))
        elif kind == "huge":
            _send_raw(http, RawAnswer(200, _JSON, HUGE))
        elif kind == "drip-head":
            _send_raw(http, RawAnswer(200, _JSON, b'{"id": "1"}', fault.delay, drip_head=True))
        elif kind == "answer":
            _send_raw(http, fault.answer or RawAnswer())

    def _route(self, request: Request) -> Response:
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                request.match = match
                return handler(request)
        return Response(404, {"error": "not_found", "message": f"no route {request.path}"})

    # --- assertions helpers -----------------------------------------------------------------

    def idle(self) -> bool:
        """True when no request is being answered (late answers included)."""
        with self._lock:
            return self._in_flight == 0

    def calls(self, method: str, path_pattern: str) -> list[Request]:
        pattern = re.compile(path_pattern)
        return [r for r in self.requests if r.method == method and pattern.search(r.path)]


def _send(http: BaseHTTPRequestHandler, response: Response) -> None:
    body = response.body
    headers = dict(response.headers)
    if isinstance(body, dict | list):
        payload = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        payload = body.encode()
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    else:
        payload = body or b""
    try:
        http.send_response(response.status)
        for key, value in headers.items():
            http.send_header(key, value)
        http.send_header("Content-Length", str(len(payload)))
        http.end_headers()
        http.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass


_JSON = {"Content-Type": "application/json"}


def _send_raw(http: BaseHTTPRequestHandler, answer: RawAnswer) -> None:
    """Write `answer` as it is: slowly, or cut short, as a broken or hostile server would."""
    body = answer.body
    if answer.drip_head:
        _drip_whole(http, answer)
        return
    try:
        http.send_response(answer.status)
        for key, value in answer.headers.items():
            http.send_header(key, value)
        http.send_header("Content-Length", str(len(body)))
        http.end_headers()
        if answer.truncate:
            http.wfile.write(body[: len(body) // 2])
            http.wfile.flush()
            http.close_connection = True
            return
        if not answer.drip:
            http.wfile.write(body)
            return
        for index in range(len(body)):
            http.wfile.write(body[index : index + 1])
            http.wfile.flush()
            time.sleep(answer.drip)
    except (BrokenPipeError, ConnectionResetError, OSError):
        http.close_connection = True


def _drip_whole(http: BaseHTTPRequestHandler, answer: RawAnswer) -> None:
    """Status line, headers and body, a byte every `answer.drip` seconds."""
    lines = [f"HTTP/1.1 {answer.status} Slow", f"Content-Length: {len(answer.body)}"]
    lines += [f"{key}: {value}" for key, value in answer.headers.items()]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + answer.body
    try:
        for index in range(len(data)):
            http.wfile.write(data[index : index + 1])
            http.wfile.flush()
            time.sleep(answer.drip)
    except OSError:
        pass
    http.close_connection = True


def _reset(http: BaseHTTPRequestHandler) -> None:
    """Close the connection with a TCP RST, as a crashed proxy would."""
    sock: socket.socket = http.connection
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    http.close_connection = True
    sock.close()
