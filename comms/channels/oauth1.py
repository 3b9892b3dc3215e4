"""OAuth 1.0a user context for X: the three-legged flow, and signing every call.

X's OAuth 1.0a user tokens do not expire, which is why it is offered beside OAuth 2.0 for an
unattended daemon. Signing (HMAC-SHA1 over the method, the address and the parameters) is done
by oauthlib, the maintained implementation, never by hand: comms only carries the four
secrets (the app's key and secret, the user's token and token secret) to it.

The flow (docs.x.com "3-legged OAuth flow"): `POST /oauth/request_token` with the callback
address (X answers `oauth_callback_confirmed=true`), the person's browser to
`/oauth/authorize?oauth_token=…`, the redirect back with `oauth_token` (which must be the one
we asked for: it plays the part of OAuth 2.0's state) and `oauth_verifier`, then
`POST /oauth/access_token` with the verifier for the lasting token, token secret, user id and
screen name.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import requests
from oauthlib.oauth1 import Client

from comms.channels.http import HttpClient
from comms.errors import AuthError

TIMEOUT = (5.0, 20.0)


@dataclass(frozen=True)
class OAuth1App:
    service: str
    api_url: str  # where /oauth/request_token and /oauth/access_token are
    authorize_url: str  # where the browser goes
    consumer_key: str
    consumer_secret: str


@dataclass(frozen=True)
class RequestToken:
    token: str
    secret: str
    url: str  # where the browser goes


class Signer(requests.auth.AuthBase):
    """A requests auth that signs each request with oauthlib (the Authorization header)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        content_type = str(request.headers.get("Content-Type") or "")
        form = content_type.startswith("application/x-www-form-urlencoded")
        raw = request.body if form else None  # only form bodies are signed (RFC 5849 3.4.1.3)
        body = raw.decode() if isinstance(raw, bytes) else raw if isinstance(raw, str) else None
        headers = {"Content-Type": content_type} if form else {}
        _uri, signed, _body = self.client.sign(
            str(request.url),
            http_method=str(request.method),  # type: ignore[arg-type]  # one of requests' verbs
            body=body,
            headers=headers,
        )
        request.headers["Authorization"] = signed["Authorization"]
        return request


def user_signer(app: OAuth1App, token: str, token_secret: str) -> Signer:
    return Signer(Client(app.consumer_key, app.consumer_secret, token, token_secret))


def request_token(app: OAuth1App, *, callback: str) -> RequestToken:
    """Step 1: a request token for this callback address."""
    client = Client(app.consumer_key, app.consumer_secret, callback_uri=callback)
    answer = _form_call(app, "/oauth/request_token", Signer(client))
    if answer.get("oauth_callback_confirmed") != "true":
        raise AuthError(f"{app.service}: X did not confirm the callback address")
    token, secret = answer.get("oauth_token", ""), answer.get("oauth_token_secret", "")
    if not token or not secret:
        raise AuthError(f"{app.service}: the request token answer is incomplete")
    url = f"{app.authorize_url}?{urlencode({'oauth_token': token})}"
    return RequestToken(token, secret, url)


def same_token(expected: str, got: str | None) -> bool:
    return got is not None and hmac.compare_digest(expected.encode(), got.encode())


def access_token(app: OAuth1App, request: RequestToken, *, verifier: str) -> dict[str, str]:
    """Step 3: the lasting user token for the verifier the redirect brought."""
    client = Client(
        app.consumer_key,
        app.consumer_secret,
        resource_owner_key=request.token,
        resource_owner_secret=request.secret,
        verifier=verifier,
    )
    answer = _form_call(app, "/oauth/access_token", Signer(client), hide=[request.secret])
    token, secret = answer.get("oauth_token", ""), answer.get("oauth_token_secret", "")
    if not token or not secret:
        raise AuthError(f"{app.service}: the access token answer is incomplete")
    found = {"access_token": token, "token_secret": secret}
    for key in ("user_id", "screen_name"):
        if answer.get(key):
            found[key] = answer[key]
    return found


def _form_call(
    app: OAuth1App, path: str, signer: Signer, hide: list[str] | None = None
) -> dict[str, str]:
    http = HttpClient(
        app.api_url,
        service=app.service,
        secrets=[app.consumer_secret, *(hide or [])],
        timeout=TIMEOUT,
    )
    http.session.auth = signer
    response = http.request("POST", path)
    return _parsed(response.text)


def _parsed(text: str) -> dict[str, Any]:
    return {k: v[0] for k, v in parse_qs(text.strip()).items() if v}
