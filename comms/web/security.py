"""The guard around every request: Host allow-list, https behind a trusted proxy, same-origin
POSTs, and the security headers on every answer.

One pure ASGI middleware, so that a refused request never reaches a page: a Host not on the list
is 400 (DNS rebinding), a state-changing request from another origin is 403 (CSRF, checked again
by the per-session token in each form). X-Forwarded-Proto is believed only from a trusted proxy.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY = 12 * 1024 * 1024  # a form with one image (comms.web.uploads takes 8 MB) and its text
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def allowed_hosts(
    configured: Iterable[str], bound_host: str | None, *, base_url: str | None = None
) -> frozenset[str]:
    """The configured list, else localhost, the bound host and the base URL's host (lower case,
    no port): the names people reach this server by, and no other (DNS rebinding)."""
    hosts = [h.strip().lower() for h in configured if h.strip()]
    if not hosts:
        hosts = [*LOCAL_HOSTS]
        if bound_host and bound_host not in ("0.0.0.0", "::"):
            hosts.append(bound_host.lower())
        named = urlsplit(base_url).hostname if base_url else None
        if named:
            hosts.append(named.lower())
    return frozenset(hosts)


def host_name(host_header: str) -> str:
    """The name part of a Host header: `[::1]:8000` -> `::1`, `a.dk:443` -> `a.dk`."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        return value.partition(":")[0]
    return value


def same_origin(origin: str | None, referer: str | None, *, scheme: str, host: str) -> bool:
    """True when Origin (or, without it, Referer) names this scheme and host exactly."""
    expected = f"{scheme}://{host}".lower()
    if origin:
        return origin.strip().lower() == expected
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() == expected
    return False


def new_token() -> str:
    """An unguessable token for a form or a cookie."""
    return secrets.token_urlsafe(32)


def tokens_match(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; a missing token never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class Guard:
    """The middleware: refuse foreign hosts and cross-origin writes, add the headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: frozenset[str],
        trusted_proxies: Iterable[str],
        refuse: Callable[[int, str], Any],
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.trusted = frozenset(trusted_proxies)
        self.refuse = refuse  # (status, Danish message) -> an ASGI response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if host_name(host) not in self.hosts:
            await self.refuse(400, "Adressen er ikke kendt af denne server.")(scope, receive, send)
            return
        client = (scope.get("client") or ("", 0))[0]
        forwarded = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        if client in self.trusted and forwarded in ("http", "https"):
            scope["scheme"] = forwarded
        if scope["method"] not in SAFE_METHODS and not same_origin(
            headers.get("origin"), headers.get("referer"), scheme=scope["scheme"], host=host
        ):
            message = "Formularen kom ikke fra denne side og er afvist."
            await self.refuse(403, message)(scope, receive, send)
            return

        if scope["method"] not in SAFE_METHODS:
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY:
                await self.refuse(413, "Forespørgslen er for stor.")(scope, receive, send)
                return
            receive = _capped(receive, MAX_BODY)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {name.lower() for name, _ in raw}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        raw.append((name.encode(), value.encode()))
                if b"cache-control" not in present:  # pages are personal; the CSS is not
                    static = scope["path"].startswith("/static/")
                    raw.append((b"cache-control", b"no-cache" if static else b"no-store"))
                if scope["scheme"] == "https":
                    raw.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(Exception):
    """A request body went past MAX_BODY while it was read (no Content-Length to refuse early)."""


def _capped(receive: Receive, limit: int) -> Receive:
    """`receive` that stops a body growing past `limit` bytes."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge()
        return message

    return capped
