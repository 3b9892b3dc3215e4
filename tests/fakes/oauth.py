"""A fake OAuth 2.0 authorisation server, as strict as the real ones: added to a fake service.

It enforces what X enforces (and LinkedIn and Mastodon, with their own paths): the client's
credentials (HTTP Basic or in the form), a registered `client_id`, PKCE S256 (the verifier must
hash to the challenge of its code), `state` handed back unchanged, a code that works once and
only with its own `redirect_uri`, access tokens that expire after `access_life` seconds, and
refresh tokens that are dead once used (X rotates them). A refresh token used twice is counted
in `reused`, which a test of "a rotated refresh token is never lost" requires to stay empty.

Tokens carry the marker `TOKMARK`, so tests can grep the database file and every output for it.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from tests.fakes.server import FakeServer, Request, Response

MARKER = "TOKMARK"


@dataclass
class _Code:
    redirect_uri: str
    challenge: str | None
    scope: str
    used: bool = False


@dataclass
class OAuth2Provider:
    client_id: str = "comms-client"
    client_secret: str | None = "comms-client-secret-SECMARK"
    access_life: float | None = 2.0  # None: tokens that never expire (Mastodon)
    authorize_path: str = "/i/oauth2/authorize"
    token_path: str = "/2/oauth2/token"
    require_pkce: bool = True
    rotate: bool = True
    refreshes: int = 0
    reused: list[str] = field(default_factory=list)
    refused_refresh: bool = False  # every refresh answers 400 invalid_grant (revoked)
    # LinkedIn's `refresh_token_expires_in`: a refresh token that dies this many seconds after
    # the person connected (refreshing does not extend it); None: the field is not sent
    refresh_life: float | None = None
    refresh_attempts: int = 0  # refresh grants asked for, granted or not
    issue_refresh: bool = True  # False: an app without refresh tokens (LinkedIn's default)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _access: dict[str, float] = field(default_factory=dict)  # token -> expires (monotonic)
    _refresh: dict[str, bool] = field(default_factory=dict)  # token -> used
    _refresh_ends: dict[str, float] = field(default_factory=dict)  # token -> dies (monotonic)
    _revoked: set[str] = field(default_factory=set)  # access tokens the person revoked
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _serial: itertools.count = field(default_factory=lambda: itertools.count(1))

    def install(self, fake: FakeServer) -> None:
        fake.route("GET", self.authorize_path, self.authorize)
        fake.route("POST", self.token_path, self.token)

    # --- what the API side asks -------------------------------------------------------------

    def access_state(self, token: str) -> str:
        """ "ok", "expired" or "unknown" for a bearer token."""
        with self._lock:
            expires = self._access.get(token)
            revoked = token in self._revoked
        if expires is None:
            return "unknown"
        if revoked:
            return "revoked"
        return "ok" if time.monotonic() < expires else "expired"

    def expire_now(self) -> None:
        """Every access token issued so far dies now, whatever its announced life."""
        with self._lock:
            for token in self._access:
                self._access[token] = 0.0

    def revoke_all(self) -> None:
        """The person revoked comms' access at the service: every access token is refused as
        revoked and every refresh token is dead (the grant is gone)."""
        with self._lock:
            self._revoked |= set(self._access)
            self._refresh.clear()

    def issued_tokens(self) -> list[str]:
        with self._lock:
            return list(self._access) + list(self._refresh)

    # --- endpoints --------------------------------------------------------------------------

    def authorize(self, request: Request) -> Response:
        """The person said yes: redirect back with a code (the fake has no consent page)."""
        q = {k: v[0] for k, v in request.query.items()}
        if q.get("client_id") != self.client_id:
            return Response(400, {"error": "invalid_client"})
        if q.get("response_type") != "code" or not q.get("redirect_uri") or not q.get("state"):
            return Response(400, {"error": "invalid_request"})
        challenge = q.get("code_challenge")
        if self.require_pkce and (not challenge or q.get("code_challenge_method") != "S256"):
            return Response(400, {"error": "invalid_request", "error_description": "PKCE S256"})
        code = f"code-{secrets.token_urlsafe(12)}"
        with self._lock:
            self._codes[code] = _Code(q["redirect_uri"], challenge, q.get("scope", ""))
        target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
        return Response(302, b"", {"Location": target})

    def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in request.form.items()}
        if not self._client_ok(request, form):
            return Response(401, {"error": "invalid_client"})
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._by_code(form)
        if grant == "refresh_token":
            return self._by_refresh(form)
        return Response(400, {"error": "unsupported_grant_type"})

    # --- inside -----------------------------------------------------------------------------

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        header = request.header("authorization") or ""
        if header.startswith("Basic "):
            pair = base64.b64decode(header[6:]).decode()
            return pair == f"{self.client_id}:{self.client_secret}"
        if self.client_secret is not None:
            return (
                form.get("client_id") == self.client_id
                and form.get("client_secret") == self.client_secret
            )
        return form.get("client_id") == self.client_id

    def _by_code(self, form: dict[str, str]) -> Response:
        with self._lock:
            code = self._codes.get(form.get("code", ""))
            if code is None or code.used or code.redirect_uri != form.get("redirect_uri"):
                return Response(400, {"error": "invalid_grant"})
            if code.challenge is not None:
                verifier = form.get("code_verifier", "")
                digest = hashlib.sha256(verifier.encode()).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != code.challenge:
                    return Response(400, {"error": "invalid_grant", "error_description": "PKCE"})
            code.used = True
            return self._issue(code.scope)

    def _by_refresh(self, form: dict[str, str]) -> Response:
        token = form.get("refresh_token", "")
        with self._lock:
            self.refresh_attempts += 1
            if self.refused_refresh:
                return Response(400, {"error": "invalid_grant", "error_description": "revoked"})
            if token not in self._refresh:
                return Response(400, {"error": "invalid_grant"})
            ends = self._refresh_ends.get(token)
            if ends is not None and time.monotonic() >= ends:
                return Response(
                    400,
                    {"error": "invalid_grant", "error_description": "refresh token expired"},
                )
            if self._refresh[token]:
                self.reused.append(token)
                return Response(400, {"error": "invalid_grant", "error_description": "used"})
            if self.rotate:
                self._refresh[token] = True
            self.refreshes += 1
            answer = self._issue("", refresh=self.rotate)
            if ends is not None and isinstance(answer.body, dict):
                # LinkedIn: the same refresh token, and the time it has left
                answer.body["refresh_token_expires_in"] = max(0, int(ends - time.monotonic()))
            return answer

    def _issue(self, scope: str, *, refresh: bool = True) -> Response:
        n = next(self._serial)
        access = f"{MARKER}-access-{n}-{secrets.token_urlsafe(8)}"
        life = self.access_life
        self._access[access] = time.monotonic() + (life if life is not None else 10**9)
        body: dict[str, object] = {
            "token_type": "bearer",
            "access_token": access,
            "scope": scope or "tweet.read tweet.write users.read offline.access",
        }
        if life is not None:
            body["expires_in"] = life
        if refresh and life is not None and self.issue_refresh:
            rt = f"{MARKER}-refresh-{n}-{secrets.token_urlsafe(8)}"
            self._refresh[rt] = False
            body["refresh_token"] = rt
            if self.refresh_life is not None:
                self._refresh_ends[rt] = time.monotonic() + self.refresh_life
                body["refresh_token_expires_in"] = int(self.refresh_life)
        return Response(200, body)
