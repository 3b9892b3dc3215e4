"""One HTTP layer for every adapter: timeouts, transport retries that cannot duplicate, and the
mapping from what went wrong to the error class the queue acts on.

The first question for any failure is "could the request have reached the service?":
- refused connection or connect timeout: it did not; transient, safe to retry;
- read timeout, connection reset after sending, a 500/502/504, or a 2xx whose body we cannot
  read: it may have; `TransientError(maybe_delivered=True)`, which the queue turns into `unknown`
  on a channel without idempotency (never a blind resend);
- 429 (or 503 with Retry-After): not processed; `RateLimitedError` with the wait the service
  asked for (Retry-After in seconds or as an HTTP date, or the service's reset header);
- 401/403: `AuthError`, naming the environment variable to renew (never the token);
- other 4xx: `RejectedError` with the service's own reason.

The transport retries only failures to connect (urllib3 `Retry(connect=3, read=0, status=0)`):
anything later is the queue's decision, recorded in the database. Secret values are scrubbed
from every error message this module builds.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from comms.channels import token_answer
from comms.channels.deadline import CallDeadline, DeadlineAdapter
from comms.channels.scrub import Scrubber
from comms.channels.settings import ChannelSettings
from comms.errors import (
    AuthError,
    ChannelError,
    MalformedAnswer,
    RateLimitedError,
    RejectedError,
    TransientError,
)

__all__ = ["HttpClient", "Scrubber", "bearer_client", "error_reason", "parse_retry_after"]

DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds; the read part is also the deadline
# The largest answer read. Every answer comms acts on (an id, a page of posts to look a post up
# in, a few figures) is a few kilobytes; a megabyte is generous, and more is a broken or hostile
# service filling the daemon's memory, not an answer.
MAX_BODY_BYTES = 1 << 20
CHUNK_BYTES = 16 * 1024
USER_AGENT = "comms/0.1 (+https://github.com/tryg-aalborg/comms)"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date -> seconds to wait (never negative)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_reset(value: str | None, *, now: datetime | None = None) -> float | None:
    """A rate-limit reset header: Unix seconds (X, Bluesky) or an ISO time (Mastodon)."""
    if value is None or not value.strip():
        return None
    now = now or datetime.now(UTC)
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    if number > 1_000_000_000:  # an epoch timestamp, not a delta
        return max(0.0, number - now.timestamp())
    return max(0.0, number)


def error_reason(
    response: requests.Response, limit: int = 300, scrub: Callable[[str], str] | None = None
) -> str:
    """The service's own words for a failure: a JSON error message if there is one.

    Scrubbed before it is cut to `limit` characters: cutting first can leave half a token that
    no longer matches the secret, and half a token is still a leak."""
    return (scrub or Scrubber())(_reason_text(response))[:limit]


def _reason_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return response.text.strip() or response.reason or ""
    if isinstance(body, dict):
        for key in ("error_description", "message", "error", "detail", "title"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or json.dumps(value)
            if isinstance(value, str) and value:
                return value
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or errors[0].get("detail") or errors[0])
    return json.dumps(body)


class HttpClient:
    """A requests session bound to one service's base URL and credentials."""

    def __init__(
        self,
        base_url: str,
        *,
        service: str,
        auth_env: str | None = None,
        secrets: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        reset_headers: Iterable[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.service = service
        self.auth_env = auth_env
        self.scrub = Scrubber(secrets)
        self.timeout = timeout
        self.reset_headers = tuple(reset_headers)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers.update(headers or {})
        retry = Retry(
            total=3,
            connect=3,
            read=0,
            status=0,
            other=0,
            backoff_factor=0.2,
            allowed_methods=None,
            raise_on_status=False,
        )
        adapter = DeadlineAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        classify: Callable[[requests.Response], ChannelError | None] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request; return a 2xx response or raise the classified ChannelError.

        The read timeout is also a total deadline for the whole answer: requests only bounds
        each socket read, so a server that drips a byte every few seconds would hold the call
        (and a daemon waiting on it to stop) for ever. The body is read in chunks against the
        deadline and a size cap (`MAX_BODY_BYTES`); whatever goes wrong after the request left
        may hide a success, so it says `maybe_delivered`."""
        connect, total = _timeouts(kwargs.pop("timeout", self.timeout))
        deadline = time.monotonic() + total
        kwargs["timeout"] = (connect, total)
        kwargs["stream"] = True
        call = CallDeadline(total)
        whole = False
        response: requests.Response | None = None
        try:
            with call:
                response = self._send(method, self.url(path), call, total, kwargs)
                ok = 200 <= response.status_code < 300
                try:
                    whole = self._read_body(response, deadline, total, strict=ok)
                except TransientError:
                    if call.expired:
                        raise self._late(total, response.status_code) from None
                    raise
        finally:
            if response is not None:
                if whole:
                    response.raw.release_conn()  # read to the end: the connection can be reused
                else:
                    response.close()
        if ok:
            return response
        try:
            error = classify(response) if classify else None
        except Exception:  # the adapter's reading of an error body of the wrong shape
            error = None
        raise error or self.classify(response)

    def _send(
        self, method: str, target: str, call: CallDeadline, total: float, kwargs: dict[str, Any]
    ) -> requests.Response:
        """The request, up to the answer's headers; a failure mapped to its error class."""
        try:
            return self.session.request(method, target, **kwargs)
        except requests.exceptions.ConnectTimeout as exc:
            raise TransientError(self._say(f"could not connect in time: {exc}")) from None
        except requests.exceptions.RequestException as exc:
            if call.expired:  # the deadline cut the socket while the headers dripped in
                raise self._late(total) from None
            if isinstance(exc, requests.exceptions.ReadTimeout):
                raise TransientError(
                    self._say(f"no answer within {total:g} s after sending"),
                    maybe_delivered=True,
                ) from None
            if isinstance(exc, requests.exceptions.ConnectionError):
                sent = not _never_connected(exc)
                what = "connection lost after sending" if sent else "could not connect"
                raise TransientError(self._say(f"{what}: {exc}"), maybe_delivered=sent) from None
            raise TransientError(
                self._say(f"request failed: {exc}"), maybe_delivered=True
            ) from None

    def _late(self, total: float, status: int | None = None) -> TransientError:
        said = f"HTTP {status}: " if status is not None else ""
        return TransientError(
            self._say(f"{said}the answer did not arrive within {total:g} s"),
            status=status,
            maybe_delivered=True,
        )

    def _read_body(
        self, response: requests.Response, deadline: float, total: float, *, strict: bool
    ) -> bool:
        """Read the body into `response` within the deadline and the size cap; True when it
        was read to its end.

        A success (`strict`) over the cap is a MalformedAnswer; a failure's body is only read for
        its reason, so it is cut at the cap instead."""
        status = response.status_code
        declared = response.headers.get("Content-Length", "")
        if strict and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise MalformedAnswer(
                self._say(
                    f"HTTP {status} with a body of {declared} bytes (at most {MAX_BODY_BYTES})"
                ),
                status=status,
            )
        chunks: list[bytes] = []
        whole = False
        try:
            whole = self._read_chunks(response.raw, chunks, deadline, total, strict=strict)
        except ChannelError:
            if strict:
                raise
            # a failure's status line arrived: its class stands on that, whatever became of
            # the body, which was wanted only for the service's reason
        response._content = b"".join(chunks)[:MAX_BODY_BYTES]
        response._content_consumed = True
        return whole

    def _read_chunks(
        self, raw: Any, chunks: list[bytes], deadline: float, total: float, *, strict: bool
    ) -> bool:
        """Append the body's chunks until its end (True), the cap, or a failure (raised)."""
        status = getattr(raw, "status", None)
        # read1 returns what one socket read brought, so the deadline is checked between drips;
        # an older urllib3 without it still ends at the deadline (deadline.py cuts the socket)
        read = getattr(raw, "read1", None) or raw.read
        size = 0
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TransientError(
                        self._say(f"HTTP {status}: the answer did not arrive within {total:g} s"),
                        status=status,
                        maybe_delivered=True,
                    )
                _limit_socket_wait(raw, remaining)
                data = read(CHUNK_BYTES, decode_content=True)
                if not data:
                    return True
                chunks.append(data)
                size += len(data)
                if size > MAX_BODY_BYTES:
                    if strict:
                        raise MalformedAnswer(
                            self._say(f"HTTP {status} with a body over {MAX_BODY_BYTES} bytes"),
                            status=status,
                        )
                    return False
        except (ReadTimeoutError, TimeoutError):
            raise TransientError(
                self._say(f"HTTP {status}: the answer stalled (no data within {total:g} s)"),
                status=status,
                maybe_delivered=True,
            ) from None
        except (HTTPError, OSError) as exc:
            raise TransientError(
                self._say(f"HTTP {status}: connection lost while reading the answer: {exc}"),
                status=status,
                maybe_delivered=True,
            ) from None

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request whose 2xx answer must be JSON; an unreadable answer may hide a success."""
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past any reason
            raise MalformedAnswer(
                self._say(f"HTTP {response.status_code} with a body that is not JSON"),
                status=response.status_code,
            ) from None

    def classify(self, response: requests.Response) -> ChannelError:
        """The default mapping from an HTTP failure to the error class the queue acts on."""
        status = response.status_code
        reason = error_reason(response, scrub=self.scrub)
        text = self._say(f"HTTP {status}: {reason}")
        if status == 429 or (status == 503 and "Retry-After" in response.headers):
            return RateLimitedError(text, retry_after=self.retry_after(response), status=status)
        if status in (401, 403):
            renew = f" (renew the token in ${self.auth_env})" if self.auth_env else ""
            verdict = token_answer.bearer(response) if status == 401 else None
            return AuthError(text + renew, status=status, token=verdict)
        if status == 503:
            return TransientError(text, status=status)
        if status >= 500:
            return TransientError(text, status=status, maybe_delivered=True)
        return RejectedError(text, status=status)

    def retry_after(self, response: requests.Response) -> float | None:
        """How long the service asked us to wait, from Retry-After or its reset header."""
        wait = parse_retry_after(response.headers.get("Retry-After"))
        if wait is not None:
            return wait
        for header in self.reset_headers:
            wait = parse_reset(response.headers.get(header))
            if wait is not None:
                return wait
        return None

    def _say(self, message: str) -> str:
        return self.scrub(f"{self.service}: {message}")


def _timeouts(value: Any) -> tuple[float, float]:
    """(connect, total) from a requests timeout: one number is both."""
    if isinstance(value, tuple):
        return float(value[0]), float(value[1])
    return float(value), float(value)


def _limit_socket_wait(raw: Any, remaining: float) -> None:
    """Let the next socket read block no longer than the time left before the deadline.

    Best effort through urllib3's connection (the socket is not public); where it cannot be
    reached, the per-read timeout and the check between chunks still bound the call."""
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(0.05, remaining))


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the error happened while connecting, so nothing was sent."""
    reason = exc.args[0] if exc.args else None
    inner = getattr(reason, "reason", reason)  # MaxRetryError wraps the last cause
    return isinstance(inner, NewConnectionError | ConnectTimeoutError | NameResolutionError)


class BearerAdapter(Protocol):
    """What `bearer_client` reads of an adapter."""

    base_url: str
    timeout: float
    settings: ChannelSettings

    @property
    def token_env(self) -> str: ...


def bearer_client(
    adapter: BearerAdapter,
    token: str,
    *,
    secrets: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
    reset_headers: Iterable[str] = (),
) -> HttpClient:
    """A client for `adapter`'s service that sends `token` as a Bearer token and keeps it (and
    `secrets`) out of every message, naming the adapter's token variable when it is refused;
    it waits at most 5 s to connect and the adapter's timeout for an answer."""
    settings = adapter.settings
    return HttpClient(
        adapter.base_url,
        service=f"{settings.type} ({settings.name})",
        auth_env=adapter.token_env,
        secrets=[token, *secrets],
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
        timeout=(min(5.0, adapter.timeout), adapter.timeout),
        reset_headers=reset_headers,
    )
