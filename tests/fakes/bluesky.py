"""A fake Bluesky PDS (+ AppView) that behaves as the reference PDS did when we probed it.

Sessions (createSession with handle + password, refreshSession with the refresh token, tokens
that can be made to expire: 400 `ExpiredToken`; unknown tokens 400 `InvalidToken`; none 401
`AuthMissing`), uploadBlob, createRecord with the lexicon checks of `app.bsky.feed.post` (300
graphemes, 3000 bytes, uploaded image blobs, rkey a valid TID), a second create at the same rkey
answered **500 InternalServerError** as the reference PDS does, getRecord (400 `RecordNotFound`),
getPosts counts (or 502 `UpstreamFailure` when `appview=False`), and 429 `RateLimitExceeded`
with `ratelimit-*` headers. Stricter than the reference PDS, which stores them: facet byte
ranges outside the text are refused, so an offset bug fails loudly.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
import time
from typing import Any

import regex

from tests.fakes.server import FakeServer, Request, Response

TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
POST = "app.bsky.feed.post"


def _error(status: int, name: str, message: str) -> Response:
    return Response(status, {"error": name, "message": message})


class FakeBluesky(FakeServer):
    """One account's repository; `records` maps rkey -> {"uri", "cid", "value"}."""

    def __init__(
        self,
        handle: str = "tryg.test",
        password: str = "app-pass-word",
        *,
        access_life: float | None = None,
    ) -> None:
        # access_life: sessions as a real PDS gives them: JWTs whose `exp` is access_life
        # seconds away (then ExpiredToken), and a refresh JWT that is spent once used
        self.access_life = access_life
        super().__init__()
        self.handle = handle
        self.password = password
        self.did = "did:plc:fake4tryg4aalborg4test"
        self.reset()
        for nsid, method, handler in [
            ("com.atproto.server.createSession", "POST", self.create_session),
            ("com.atproto.server.refreshSession", "POST", self.refresh_session),
            ("com.atproto.server.getSession", "GET", self.get_session),
            ("com.atproto.repo.uploadBlob", "POST", self.upload_blob),
            ("com.atproto.repo.createRecord", "POST", self.create_record),
            ("com.atproto.repo.getRecord", "GET", self.get_record),
            ("app.bsky.feed.getPosts", "GET", self.get_posts),
        ]:
            self.route(method, f"/xrpc/{re.escape(nsid)}", handler)

    def reset(self) -> None:
        """Forget records, blobs, sessions and faults (one server serves many tests)."""
        if hasattr(self, "_lock"):  # also called while __init__ sets the fake up
            super().reset()
        self.records: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, dict[str, Any]] = {}
        self.access: set[str] = set()
        self.refresh: set[str] = set()
        self.expired: set[str] = set()
        self.sessions_created = 0
        self.refreshes = 0
        self.refresh_attempts = 0  # refreshSession calls, answered or refused
        self.reused: list[str] = []  # refresh JWTs used a second time (must stay empty)
        self._expires: dict[str, float] = {}
        self.counts: dict[str, dict[str, int]] = {}  # uri -> likeCount, repostCount, ...
        self.appview = True
        self.throttle = 0
        self.reset_in = 120
        self._tokens = itertools.count(1)

    def expire_access(self) -> None:
        """Every access token issued so far now answers ExpiredToken."""
        self.expired |= self.access

    def expire_refresh(self) -> None:
        self.expired |= self.refresh

    # -- auth -------------------------------------------------------------------------------

    def check_auth(self, request: Request) -> Response | None:
        if self.throttle > 0:
            self.throttle -= 1
            return Response(
                429,
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                {
                    "ratelimit-limit": "3000",
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(int(time.time() + self.reset_in)),
                    "ratelimit-policy": "3000;w=300",
                },
            )
        if request.path.endswith(("createSession", "refreshSession", "getRecord")):
            return None  # getRecord is public; the others check their own credentials
        if request.path.endswith("getPosts") and not request.header("authorization"):
            return None  # the AppView answers getPosts without auth
        return self._token(request, self.access)

    def _token(self, request: Request, valid: set[str]) -> Response | None:
        header = request.header("authorization") or ""
        if not header.startswith("Bearer "):
            return _error(401, "AuthMissing", "Authentication Required")
        token = header.removeprefix("Bearer ")
        if token in self._expires and time.time() >= self._expires[token]:
            return self.expired_response()
        if token in self.expired:
            return self.expired_response()
        if token not in valid:
            return _error(400, "InvalidToken", "Token could not be verified")
        return None

    def expired_response(self) -> Response:
        return _error(400, "ExpiredToken", "Token has expired")

    def revoke_all(self) -> None:
        """The app password was revoked: every session's tokens are unknown from now on
        (InvalidToken), refresh JWTs included."""
        with self._lock:
            self.access.clear()
            self.refresh.clear()

    def _new_session(self) -> dict[str, Any]:
        n = next(self._tokens)
        access, refresh = f"fake-access-{n}-{self.did}", f"fake-refresh-{n}-{self.did}"
        if self.access_life is not None:
            exp = time.time() + self.access_life
            access = _jwt({"scope": "com.atproto.access", "exp": exp, "n": n})
            refresh = _jwt({"scope": "com.atproto.refresh", "n": n})
            self._expires[access] = exp
        self.access.add(access)
        self.refresh.add(refresh)
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.handle,
            "did": self.did,
            "active": True,
        }

    def create_session(self, request: Request) -> Response:
        body = request.json or {}
        if body.get("identifier") not in (self.handle, self.did) or body.get("password") != (
            self.password
        ):
            return _error(401, "AuthenticationRequired", "Invalid identifier or password")
        self.sessions_created += 1
        return Response(200, self._new_session())

    def refresh_session(self, request: Request) -> Response:
        self.refresh_attempts += 1
        refused = self._token(request, self.refresh)
        if refused is not None:
            token = (request.header("authorization") or "").removeprefix("Bearer ")
            if token in self.refresh:
                self.reused.append(token)
            return refused
        if self.access_life is not None:  # the refresh JWT is rotated: the old one is spent
            self.expired.add((request.header("authorization") or "").removeprefix("Bearer "))
        self.refreshes += 1
        return Response(200, self._new_session())

    def get_session(self, request: Request) -> Response:
        return Response(200, {"handle": self.handle, "did": self.did, "active": True})

    # -- repository -------------------------------------------------------------------------

    def upload_blob(self, request: Request) -> Response:
        digest = hashlib.sha256(request.body).hexdigest()
        blob = {
            "$type": "blob",
            "ref": {"$link": f"bafkrei{digest[:52]}"},
            "mimeType": request.header("content-type") or "application/octet-stream",
            "size": len(request.body),
        }
        self.blobs[blob["ref"]["$link"]] = {"blob": blob, "bytes": request.body}
        return Response(200, {"blob": blob})

    def create_record(self, request: Request) -> Response:
        body = request.json or {}
        if body.get("repo") not in (self.did, self.handle):
            return _error(401, "AuthRequired", "Authentication Required")
        if body.get("collection") != POST:
            return _error(400, "InvalidRequest", "fake supports app.bsky.feed.post only")
        rkey = body.get("rkey") or _tid_now()
        if not TID.match(rkey):
            return _error(
                400,
                "InvalidRequest",
                f'Invalid record key for {POST}: Invalid TID string (got "{rkey}") at $',
            )
        problem = self._invalid(body.get("record"))
        if problem:
            return _error(400, "InvalidRequest", f"Invalid {POST} record: {problem}")
        if rkey in self.records:
            return _error(500, "InternalServerError", "Internal Server Error")
        uri = f"at://{self.did}/{POST}/{rkey}"
        cid = "bafyrei" + hashlib.sha256(request.body).hexdigest()[:52]
        self.records[rkey] = {"uri": uri, "cid": cid, "value": body["record"]}
        return Response(200, {"uri": uri, "cid": cid, "validationStatus": "valid"})

    def _invalid(self, record: Any) -> str | None:
        """What the lexicon check of the reference PDS objects to, or None."""
        if not isinstance(record, dict) or record.get("$type") != POST:
            return "Record/$type must be app.bsky.feed.post"
        text = record.get("text")
        if not isinstance(text, str):
            return 'Record must have the property "text"'
        graphemes = len(regex.findall(r"\X", text))
        if graphemes > 300:
            return f"grapheme too big (maximum 300, got {graphemes}) at $.record.text"
        if len(text.encode()) > 3000:
            return "Record/text must not be longer than 3000 characters"
        if not isinstance(record.get("createdAt"), str):
            return 'Record must have the property "createdAt"'
        size = len(text.encode())
        for facet in record.get("facets") or []:
            index = facet.get("index") or {}
            start, end = index.get("byteStart"), index.get("byteEnd")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= size):
                return "Record/facets/index must lie inside the text"  # app view would drop it
            if not facet.get("features"):
                return "Record/facets/features must have at least 1 item"
        embed = record.get("embed")
        if embed is not None:
            images = embed.get("images") or []
            if embed.get("$type") != "app.bsky.embed.images" or not 1 <= len(images) <= 4:
                return "Record/embed/images must have 1 to 4 items"
            for item in images:
                if not isinstance(item.get("alt"), str):
                    return 'Record/embed/images/0 must have the property "alt"'
                ref = ((item.get("image") or {}).get("ref") or {}).get("$link")
                if ref not in self.blobs:
                    return "Could not find blob"
        return None

    def get_record(self, request: Request) -> Response:
        rkey = (request.query.get("rkey") or [""])[0]
        repo = (request.query.get("repo") or [""])[0]
        if repo in (self.did, self.handle) and rkey in self.records:
            return Response(200, self.records[rkey])
        return _error(400, "RecordNotFound", f"Could not locate record: at://{repo}/{POST}/{rkey}")

    def get_posts(self, request: Request) -> Response:
        if not self.appview:
            return _error(502, "UpstreamFailure", "Upstream service unreachable")
        posts = []
        for uri in request.query.get("uris") or []:
            rkey = uri.rsplit("/", 1)[-1]
            if rkey in self.records:
                counts = {"likeCount": 0, "repostCount": 0, "replyCount": 0, "quoteCount": 0}
                counts.update(self.counts.get(uri, {}))
                record = self.records[rkey]
                posts.append(
                    {"uri": uri, "cid": record["cid"], "record": record["value"], **counts}
                )
        return Response(200, {"posts": posts})


def _jwt(claims: dict[str, Any]) -> str:
    """A token shaped as a JWT (header.claims.signature), as a PDS issues; its "signature"
    carries the marker the tests grep for."""

    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return (
        f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.TOKMARK{secrets.token_urlsafe(16)}"
    )


def _tid_now() -> str:
    value = (time.time_ns() // 1000) << 10
    return "".join("234567abcdefghijklmnopqrstuvwxyz"[(value >> s) & 31] for s in range(60, -1, -5))
