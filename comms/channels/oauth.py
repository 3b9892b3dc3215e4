"""OAuth 2.0 for the channels: the authorisation code grant with PKCE, and refreshing.

One client for every service that speaks RFC 6749 (X, LinkedIn, Mastodon): the adapter says
where its service's endpoints are and how the client authenticates (`OAuthApp`); this module
builds the authorisation address, trades the code for tokens and refreshes them. It stores
nothing: what it gets back is a `Grant`, which the caller seals into the token store.

PKCE is S256 (RFC 7636): a 64-character verifier from the system's random source, its SHA-256
as the challenge. `state` is 32 random bytes, compared in constant time when the redirect
comes back.

A refresh the service refuses (`400 invalid_grant`, `401`) is final (`RefreshRefused`): only
a person can connect the channel again. Anything else (no answer, 5xx, 429) may pass, and the
old token is kept for the next try.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests

from comms.channels.http import HttpClient, error_reason
from comms.errors import AuthError, ChannelError, MalformedAnswer, RateLimitedError, TransientError

TOKEN_TIMEOUT = (5.0, 20.0)
# when the refresh token itself runs out (LinkedIn's `refresh_token_expires_in`), among the
# grant's secrets as an ISO 8601 instant; the token store reads it by this name
REFRESH_EXPIRES = "refresh_expires_at"


class RefreshRefused(AuthError):
    """The service will not refresh this token (revoked, already used, expired): reconnect."""


@dataclass(frozen=True)
class OAuthApp:
    """One service's OAuth 2.0 endpoints and this installation's client there."""

    service: str  # for messages: "x (politi)"
    authorize_url: str
    token_url: str
    client_id: str
    client_secret: str | None = None
    scopes: tuple[str, ...] = ()
    client_auth: str = "basic"  # basic: HTTP Basic with id:secret; body: both in the form
    pkce: bool = True
    extra: dict[str, str] = field(default_factory=dict)  # more authorisation parameters


@dataclass(frozen=True)
class Grant:
    """What a token endpoint gave: the secrets (sealed by the caller) and when they run out."""

    secrets: dict[str, Any]
    expires_at: datetime | None


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str


def new_pkce() -> Pkce:
    verifier = secrets.token_urlsafe(48)  # 64 characters, inside RFC 7636's 43..128
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def new_state() -> str:
    return secrets.token_urlsafe(32)


def same_state(expected: str, got: str | None) -> bool:
    return got is not None and hmac.compare_digest(expected.encode(), got.encode())


def authorize_url(app: OAuthApp, *, redirect_uri: str, state: str, pkce: Pkce | None) -> str:
    """Where the person's browser goes to say yes."""
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        **app.extra,
    }
    if app.scopes:
        params["scope"] = " ".join(app.scopes)
    if pkce is not None:
        params["code_challenge"] = pkce.challenge
        params["code_challenge_method"] = "S256"
    joiner = "&" if "?" in app.authorize_url else "?"
    return f"{app.authorize_url}{joiner}{urlencode(params)}"


def exchange_code(
    app: OAuthApp, *, code: str, redirect_uri: str, pkce: Pkce | None, now: datetime
) -> Grant:
    """The authorisation code for tokens (the code works once)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if pkce is not None:
        form["code_verifier"] = pkce.verifier
    return _token_call(app, form, now=now, hide=[code, pkce.verifier if pkce else ""])


def refresh(app: OAuthApp, refresh_token: str, *, now: datetime) -> Grant:
    """New tokens for the refresh token. Services that rotate it (X) return a new one and the
    old one is dead from then on, so the caller must keep what this returns."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    grant = _token_call(app, form, now=now, hide=[refresh_token])
    if not grant.secrets.get("refresh_token"):
        # a service that does not rotate it answers without one: the old one stays good
        grant.secrets["refresh_token"] = refresh_token
    return grant


def _token_call(app: OAuthApp, form: dict[str, str], *, now: datetime, hide: list[str]) -> Grant:
    secrets_ = [s for s in (app.client_secret, *hide) if s]
    http = HttpClient(app.token_url, service=app.service, secrets=secrets_, timeout=TOKEN_TIMEOUT)
    headers = {"Accept": "application/json"}
    body = dict(form)
    if app.client_secret and app.client_auth == "basic":
        pair = f"{app.client_id}:{app.client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    else:
        body["client_id"] = app.client_id
        if app.client_secret:
            body["client_secret"] = app.client_secret
    try:
        answer = http.json("POST", "", data=body, headers=headers, classify=_classify(http))
    except MalformedAnswer as exc:
        # the service may have rotated the refresh token in an answer we could not read
        raise RefreshRefused(f"{exc}; the token may be spent: connect the channel again") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
        raise RefreshRefused(f"{app.service}: the token endpoint answered without access_token")
    found = _secrets_of(answer)
    refresh_ends = _expiry(answer, now, key="refresh_token_expires_in")
    if refresh_ends is not None and found.get("refresh_token"):
        found[REFRESH_EXPIRES] = refresh_ends.isoformat()
    return Grant(found, _expiry(answer, now))


def _classify(http: HttpClient) -> Any:
    def classify(response: requests.Response) -> ChannelError | None:
        status = response.status_code
        reason = error_reason(response, scrub=http.scrub)
        say = http.scrub(f"{http.service}: token endpoint HTTP {status}: {reason}")
        if status in (400, 401, 403):
            return RefreshRefused(say, status=status)
        if status == 429:
            return RateLimitedError(say, retry_after=http.retry_after(response), status=status)
        return TransientError(say, status=status)

    return classify


def _secrets_of(answer: dict[str, Any]) -> dict[str, Any]:
    keep = ("access_token", "refresh_token", "token_type", "scope", "id_token")
    return {key: answer[key] for key in keep if isinstance(answer.get(key), str)}


def _expiry(answer: dict[str, Any], now: datetime, *, key: str = "expires_in") -> datetime | None:
    life = answer.get(key)
    if isinstance(life, int | float) and not isinstance(life, bool) and 0 < life < 10**11:
        return now + timedelta(seconds=float(life))
    if isinstance(life, str) and life.isdigit() and len(life) <= 12:
        return now + timedelta(seconds=int(life))
    return None
