"""The `bluesky` channel: an `app.bsky.feed.post` record with link facets, and images with alt text.

AT Protocol over XRPC (`{base_url}/xrpc/<NSID>`), checked against the lexicons and against the
reference PDS (@atproto/pds via @atproto/dev-env 0.6.7, `tests/peers/test_bluesky_pds.py`):
- Session: `com.atproto.server.createSession` with `handle` and the app password from
  `password_env`; then `Bearer accessJwt`. createSession is limited (30 per 5 min, 300 a day), so
  the session is kept per process and renewed with `refreshSession` (`Bearer refreshJwt`). An
  `ExpiredToken`/`InvalidToken` answer (400) renews the session once and repeats the call once;
  if that fails too, `AuthError` names `password_env`.
- Post: `com.atproto.repo.createRecord` with a client-chosen `rkey`: a valid TID (13 chars,
  base32-sortable, 53-bit microseconds + 10-bit clock id) derived from the post's idempotency key,
  so a re-send addresses the same record. The reference PDS answers a second create of an
  existing rkey with **500 InternalServerError** (no distinct error name), so after any failed
  create that reached the server we read `com.atproto.repo.getRecord` for our rkey and return
  the record if it is there: `idempotent = True` with no time window. The derived TID's time lies
  in a fixed 2023 window (the PDS does not check TID times; the rkey must not change if the post
  is rescheduled); `createdAt` carries the real time.
- Links are not detected by the server: each URL in the text becomes a `#link` facet (hashtags a
  `#tag` facet) with **UTF-8 byte** offsets (start inclusive, end exclusive).
- Images: `com.atproto.repo.uploadBlob` (raw bytes), then `app.bsky.embed.images` with `alt` and
  `aspectRatio` (read from PNG/JPEG headers). The lexicon caps an image at 1,000,000 bytes; the
  reference PDS does NOT enforce this (it stored a 1.1 MB blob in a post), the AppView and apps
  would not show it, so we refuse larger files before uploading. EXIF is not stripped: give the
  channel images without location data.
- Text: at most 300 graphemes (counted with `regex` `\\X`, as the PDS's "grapheme too big" check
  does) and 3000 bytes; checked here before any call, and by the server (400 `InvalidRequest`).
- Figures: `app.bsky.feed.getPosts` gives likeCount, repostCount, replyCount, quoteCount (no
  views, reach or clicks exist). It is an AppView method: a PDS proxies it to its configured
  AppView (bsky.social does). A PDS without a reachable AppView answers 502 `UpstreamFailure`
  (seen on the reference PDS): that is a `TransientError` whose message says to set
  `appview_url` (e.g. https://public.api.bsky.app, which answers getPosts without auth).
- Errors: `{"error": Name, "message"}`. 429 with `ratelimit-reset` (Unix seconds) →
  `RateLimitedError`; 400 `InvalidRequest` and other 4xx → `RejectedError`; 401
  `AuthenticationRequired` (wrong password) and `AccountTakedown` → `AuthError`; 5xx transient.

Unverifiable offline: bsky.social's rate-limit headers (the local PDS runs without limits), the
exact ExpiredToken status (400 per the lexicon; 401 also handled), and AppView counting.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import mimetypes
import struct
import threading
from datetime import UTC, datetime
from typing import Any

import regex
import requests

from comms.channels import token_answer
from comms.channels.answers import id_value, str_field
from comms.channels.base import Channel, CheckResult, Figures, OutgoingPost, PreviewCard, Receipt
from comms.channels.http import HttpClient
from comms.channels.images import checked_image
from comms.channels.oauth import Grant, RefreshRefused
from comms.channels.options import Option
from comms.channels.settings import ChannelSettings
from comms.content.text import TextRule, url_spans
from comms.errors import (
    AuthError,
    ChannelError,
    ConfigError,
    MalformedAnswer,
    RejectedError,
    TransientError,
)

POST = "app.bsky.feed.post"
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
TID_BASE_US = 1_672_531_200_000_000  # 2023-01-01T00:00:00Z: derived rkeys lie just after it
_TAG = regex.compile(r"(?<!\S)[#＃]((?:\p{L}|\p{N}|_)*\p{L}(?:\p{L}|\p{N}|_)*)")
_SESSIONS: dict[tuple[str, str], dict[str, Any]] = {}  # (base_url, handle) -> session, per process
_SESSION_LOCK = threading.Lock()


class SessionExpired(AuthError):
    """The access (or refresh) token expired or was not accepted: renew the session once."""


class RecordNotFound(RejectedError):
    """getRecord found nothing at that rkey."""


class BlueskyChannel(Channel):
    """Posts to one account's repository on its PDS (bsky.social by default)."""

    name = "bluesky"
    receipt_has_url = True
    idempotent = True  # deterministic rkey: a re-send collides with the record, never duplicates
    has_metrics = True  # likes, reposts, replies, quotes from the AppView; no views or reach

    label = "Bluesky"
    title = "Bluesky-konto"
    post_words = ("opslag på Bluesky", "opslag på Bluesky")
    max_graphemes = 300  # app.bsky.feed.post text maxGraphemes
    max_text_bytes = 3000  # app.bsky.feed.post text maxLength (UTF-8 bytes)
    text_rule = TextRule(counting="graphemes", max_length=max_graphemes, max_bytes=max_text_bytes)
    preview = PreviewCard("bluesky", "Bluesky", ("Svar", "Repost", "Like"), handle=True)
    options = (
        Option(
            "base_url", str, "the entryway or the account's own PDS", default="https://bsky.social"
        ),
        Option("handle", str, "the account's handle", required=True),
        Option(
            "password_env",
            str,
            "variable holding an app password (not needed once connected)",
            secret=True,
        ),
        Option("appview_url", str, "where like and repost counts are read"),
        Option("language", str, "the posts' language (BCP 47)", default="da"),
        Option("web_url", str, "the web app links point to", default="https://bsky.app"),
    )
    default_base_url = "https://bsky.social"  # the entryway; or the account's own PDS
    max_image_bytes = 1_000_000  # app.bsky.embed.images image blob maxSize
    max_alt_graphemes = 2000  # what the Bluesky app allows; the lexicon sets no limit

    def __init__(self, settings: ChannelSettings) -> None:
        super().__init__(settings)
        self.base_url = str(settings.get("base_url") or self.default_base_url).rstrip("/")
        self.appview_url = str(settings.get("appview_url") or "").rstrip("/") or None
        self.handle = str(settings.get("handle") or "")
        self.password_env = str(settings.get("password_env") or "")
        self.language = settings.get("language", "da")
        self.web_url = str(settings.get("web_url", "https://bsky.app")).rstrip("/")
        self.timeout = float(settings.get("timeout_seconds", 30))
        self._lock = threading.Lock()

    # -- the contract -----------------------------------------------------------------------

    def publish(self, post: OutgoingPost) -> Receipt:
        """Create the post record under its derived rkey; a collision returns the existing one."""
        text = post_text(post)
        self._check_text(text)
        image = self._read_image(post) if post.image_path is not None else None
        record: dict[str, Any] = {
            "$type": POST,
            "text": text,
            "createdAt": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        if self.language:
            record["langs"] = [str(self.language)]
        facets = make_facets(text)
        if facets:
            record["facets"] = facets
        rkey = rkey_for(post.idempotency_key)
        if image is not None:
            blob = self._call("POST", "com.atproto.repo.uploadBlob", **image["upload"])["blob"]
            entry: dict[str, Any] = {"alt": image["alt"], "image": blob}
            if image["size"]:
                entry["aspectRatio"] = {"width": image["size"][0], "height": image["size"][1]}
            record["embed"] = {"$type": "app.bsky.embed.images", "images": [entry]}
        body = {"repo": self._session()["did"], "collection": POST, "rkey": rkey, "record": record}
        try:
            created = self._call("POST", "com.atproto.repo.createRecord", json=body)
        except (RejectedError, TransientError) as exc:
            if exc.status is None:
                raise  # never reached the server, or no answer: the daemon retries the same rkey
            try:  # a retry colliding with its own earlier success (the PDS answers 500)
                existing = self._lookup(rkey)
            except ChannelError:
                existing = None
            if existing is None:
                raise exc from None
            return existing
        return self._receipt(str_field(created, "uri", what="bluesky") or "")

    def metrics(self, receipt: Receipt) -> Figures:
        """Likes + reposts + replies + quotes from app.bsky.feed.getPosts; no reach exists."""
        params = {"uris": receipt.external_id}
        try:
            if self.appview_url:
                data = self._client(self.appview_url).json(
                    "GET", "/xrpc/app.bsky.feed.getPosts", params=params, classify=_classify
                )
            else:
                data = self._call("GET", "app.bsky.feed.getPosts", params=params)
        except TransientError as exc:
            if exc.status in (501, 502):
                raise TransientError(
                    f"{exc} (the PDS could not reach an AppView to count likes; set "
                    'appview_url = "https://public.api.bsky.app" in '
                    f"[channels.{self.settings.name}])",
                    status=exc.status,
                ) from None
            raise
        posts = data.get("posts") or []
        if not posts:
            return Figures(raw=data)  # not indexed (yet) by the AppView, or deleted
        view = posts[0]
        counts = [view.get(k) for k in ("likeCount", "repostCount", "replyCount", "quoteCount")]
        known = [int(c) for c in counts if isinstance(c, int)]
        return Figures(engagements=sum(known) if known else None, raw=view)

    def find(self, post: OutgoingPost) -> Receipt | None:
        """The record at the post's derived rkey, if it exists."""
        return self._lookup(rkey_for(post.idempotency_key))

    def check(self) -> CheckResult:
        """Log in (or reuse the session) and read it back; app passwords do not expire."""
        try:
            session = self._call("GET", "com.atproto.server.getSession")
        except AuthError as exc:
            return CheckResult(False, str(exc))
        active = session.get("active", True)
        state = "" if active else f" (account {session.get('status', 'inactive')})"
        return CheckResult(
            bool(active), f"posts as @{session.get('handle')} ({session.get('did')}){state}"
        )

    # -- connecting: a session kept in the token store --------------------------------------

    connects_with = "password"  # comms channels connect asks for the app password, once

    def open_session(self, password: str, *, now: datetime) -> Grant:
        """Log in once with the app password; what is stored is the session (its access and
        refresh JWTs), never the password: the daemon keeps it alive with refreshSession."""
        session = self._client_with(password).json(
            "POST",
            "/xrpc/com.atproto.server.createSession",
            json={"identifier": self.handle, "password": password},
            classify=_classify,
        )
        return _grant(session, what=f"bluesky ({self.settings.name})")

    def refresh_credentials(self, secrets: dict[str, Any], *, now: datetime) -> Grant:
        """`refreshSession` with the stored refresh JWT; a PDS rotates it, so the old one is
        spent from here on. An expired or revoked refresh JWT needs the app password again."""
        what = f"bluesky ({self.settings.name})"
        refresh = str(secrets.get("refresh_token") or "")
        http = self._client_with(None, token=refresh)
        try:
            session = http.json(
                "POST", "/xrpc/com.atproto.server.refreshSession", classify=_classify
            )
        except (SessionExpired, AuthError) as exc:
            raise RefreshRefused(
                f"{exc}; the session cannot be renewed", status=exc.status
            ) from None
        except RejectedError as exc:
            raise RefreshRefused(str(exc), status=exc.status) from None
        return _grant(session, what=what)

    def _stored_session(self, *, renew: bool, revoked: str | None = None) -> dict[str, Any] | None:
        """The session from the token store when the channel is connected, else None. A
        session the PDS called invalid (`revoked`) is not refreshed: the channel pauses."""
        source = self.settings.tokens
        if source is None:
            return None
        name = self.settings.name
        if renew and not source.refresh_rejected(name, revoked=revoked):
            return None
        access = source.access_token(name)
        if not access:
            return None
        return {"accessJwt": access, "did": source.secret(name, "did") or ""}

    # -- session and calls ------------------------------------------------------------------

    def _client(self, base_url: str | None = None, token: str | None = None) -> HttpClient:
        try:
            password: str | None = self.settings.secret("password_env")
        except ConfigError:
            if token is None:
                raise
            password = None  # a stored session needs no password
        return self._client_with(password, base_url=base_url, token=token)

    def _client_with(
        self, password: str | None, *, base_url: str | None = None, token: str | None = None
    ) -> HttpClient:
        return HttpClient(
            base_url or self.base_url,
            service=f"bluesky ({self.settings.name})",
            auth_env=self.password_env,
            secrets=[s for s in (password, token) if s],
            headers={"Authorization": f"Bearer {token}"} if token else None,
            timeout=(min(5.0, self.timeout), self.timeout),
            reset_headers=["ratelimit-reset"],
        )

    def _session(self, *, renew: bool = False, revoked: str | None = None) -> dict[str, Any]:
        """The process's session for this account: created once, refreshed when it expires."""
        stored = self._stored_session(renew=renew, revoked=revoked)
        if stored is not None:
            return stored
        key = (self.base_url, self.handle)
        with _SESSION_LOCK:
            session = _SESSIONS.get(key)
            if session is not None and not renew:
                return session
            if session is not None:
                try:
                    session = self._client(token=session["refreshJwt"]).json(
                        "POST", "/xrpc/com.atproto.server.refreshSession", classify=_classify
                    )
                except SessionExpired:
                    session = None  # the refresh token is spent too: log in again
            if session is None:
                if not self.handle:
                    raise AuthError(
                        f"bluesky ({self.settings.name}): no handle configured "
                        f'(add handle = "name.bsky.social" to [channels.{self.settings.name}])'
                    )
                session = self._client().json(
                    "POST",
                    "/xrpc/com.atproto.server.createSession",
                    json={
                        "identifier": self.handle,
                        "password": self.settings.secret("password_env"),
                    },
                    classify=_classify,
                )
            _SESSIONS[key] = session
            return session

    def _call(self, method: str, nsid: str, **kwargs: Any) -> Any:
        """One XRPC call with the session; an expired token renews it and repeats once."""
        revoked: str | None = None
        for attempt in (1, 2):
            session = self._session(renew=attempt == 2, revoked=revoked)
            http = self._client(token=session["accessJwt"])
            try:
                return http.json(method, f"/xrpc/{nsid}", classify=_classify, **kwargs)
            except SessionExpired as exc:
                revoked = str(exc) if exc.token == token_answer.REVOKED else None
                if attempt == 2:
                    raise AuthError(
                        f"{exc} (after renewing the session; check the app password in "
                        f"${self.password_env})",
                        status=exc.status,
                    ) from None
        raise AssertionError("unreachable")

    def _lookup(self, rkey: str) -> Receipt | None:
        try:
            found = self._call(
                "GET",
                "com.atproto.repo.getRecord",
                params={"repo": self._session()["did"], "collection": POST, "rkey": rkey},
            )
        except RecordNotFound:
            return None
        return self._receipt(str_field(found, "uri", what="bluesky") or "")

    def _receipt(self, uri: str) -> Receipt:
        """The record's AT URI (`at://did/collection/rkey`) and its page on the web app."""
        parts = uri.removeprefix("at://").split("/")
        if not uri.startswith("at://") or len(parts) != 3 or not all(parts):
            raise MalformedAnswer(f"bluesky: the answer's uri is {len(uri)} characters, no AT URI")
        did, _collection, rkey = parts
        return Receipt(
            external_id=id_value(uri, key="uri", what="bluesky"),
            url=f"{self.web_url}/profile/{did}/post/{rkey}",
        )

    # -- content ----------------------------------------------------------------------------

    def _check_text(self, text: str) -> None:
        graphemes = len(regex.findall(r"\X", text))
        if graphemes > self.max_graphemes or len(text.encode()) > self.max_text_bytes:
            raise RejectedError(
                f"bluesky: the text is {graphemes} graphemes / {len(text.encode())} bytes; "
                f"the limit is {self.max_graphemes} graphemes and {self.max_text_bytes} bytes"
            )

    def _read_image(self, post: OutgoingPost) -> dict[str, Any]:
        path, alt = checked_image(post, prefix="bluesky: ")
        if len(regex.findall(r"\X", alt)) > self.max_alt_graphemes:
            raise RejectedError(f"bluesky: alt text is over {self.max_alt_graphemes} graphemes")
        data = path.read_bytes()
        if len(data) > self.max_image_bytes:
            raise RejectedError(
                f"bluesky: image {path.name} is {len(data):,} bytes; Bluesky shows images up to "
                f"{self.max_image_bytes:,} bytes (scale or compress it)"
            )
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        upload = {"data": data, "headers": {"Content-Type": mime}}
        return {"alt": alt, "size": image_size(data), "upload": upload}


def _grant(session: Any, *, what: str) -> Grant:
    """A session answer as the token store keeps it; the access JWT's `exp` is its expiry."""
    if not isinstance(session, dict):
        raise MalformedAnswer(f"{what}: the session answer is not an object")
    access, refresh = session.get("accessJwt"), session.get("refreshJwt")
    if not isinstance(access, str) or not isinstance(refresh, str):
        raise MalformedAnswer(f"{what}: the session answer has no accessJwt and refreshJwt")
    secrets = {"access_token": access, "refresh_token": refresh}
    for key in ("did", "handle"):
        if isinstance(session.get(key), str):
            secrets[key] = session[key]
    return Grant(secrets, jwt_expiry(access))


def jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT, read without checking its signature (the PDS checks it; comms
    only wants to know when to refresh)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return datetime.fromtimestamp(float(exp), UTC)
    return None


def _classify(response: requests.Response) -> ChannelError | None:
    """XRPC error names the shared mapping cannot see: token expiry and account states."""
    try:
        body = response.json()
    except ValueError:
        return None
    name = body.get("error") if isinstance(body, dict) else None
    if name in ("ExpiredToken", "InvalidToken"):
        return SessionExpired(
            f"bluesky: {name}", status=response.status_code, token=token_answer.bluesky(name)
        )
    if name == "RecordNotFound":
        return RecordNotFound(f"bluesky: {body.get('message')}", status=response.status_code)
    return None


def post_text(post: OutgoingPost) -> str:
    """The post's text, with its link appended when the text does not already contain it."""
    text = post.text.strip()
    if post.link and post.link not in text:
        text = f"{text}\n\n{post.link}" if text else post.link
    return text


def make_facets(text: str) -> list[dict[str, Any]]:
    """Link and hashtag facets at UTF-8 byte offsets (start inclusive, end exclusive)."""

    def span(start: int, end: int) -> dict[str, int]:
        return {"byteStart": len(text[:start].encode()), "byteEnd": len(text[:end].encode())}

    facets = []
    for start, end in url_spans(text):
        feature = {"$type": "app.bsky.richtext.facet#link", "uri": text[start:end]}
        facets.append({"index": span(start, end), "features": [feature]})
    for match in _TAG.finditer(text):
        tag = match.group(1)
        if len(tag) <= 64:
            feature = {"$type": "app.bsky.richtext.facet#tag", "tag": tag}
            facets.append({"index": span(match.start(), match.end()), "features": [feature]})
    return sorted(facets, key=lambda f: f["index"]["byteStart"])


def rkey_for(idempotency_key: str) -> str:
    """A valid TID derived only from the key: same key, same record key."""
    digest = int.from_bytes(hashlib.sha256(f"comms:{idempotency_key}".encode()).digest()[:8])
    micros = TID_BASE_US + (digest >> 24)  # 40 bits: about 12.7 days after TID_BASE_US
    value = (micros << 10) | (digest & 0x3FF)  # top bit stays 0: micros < 2**53
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header, for aspectRatio; None for other formats."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 9 < len(data) and data[pos] == 0xFF:
            marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2 : pos + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return width, height
            pos += 2 + length
    return None
