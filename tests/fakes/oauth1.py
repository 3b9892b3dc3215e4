"""X's OAuth 1.0a, server side, with oauthlib's own endpoints: every signature is checked by
the maintained library (HMAC-SHA1, timestamps within its window, each nonce once), the request
token works once and only with its verifier, and the callback is the one registered with the
request token. Added to the fake X (tests/fakes/x.py)."""

from __future__ import annotations

import secrets
import string
import threading
from typing import Any
from urllib.parse import urlencode

from oauthlib.oauth1 import (
    AccessTokenEndpoint,
    RequestTokenEndpoint,
    RequestValidator,
    ResourceEndpoint,
)

from tests.fakes.server import Request, Response

MARKER = "TOKMARK"


def _token(prefix: str = "") -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(24))


class _Validator(RequestValidator):
    """What oauthlib asks the server: which clients, tokens and nonces it knows."""

    def __init__(self, provider: OAuth1Provider) -> None:
        super().__init__()
        self.p = provider

    enforce_ssl = False  # the fake is plain HTTP on 127.0.0.1
    client_key_length = (3, 64)
    request_token_length = (3, 64)
    access_token_length = (3, 64)
    verifier_length = (3, 64)
    nonce_length = (3, 64)

    @property
    def dummy_client(self) -> str:
        return "dummyclient"

    @property
    def dummy_request_token(self) -> str:
        return "dummyrequesttoken"

    @property
    def dummy_access_token(self) -> str:
        return "dummyaccesstoken"

    def get_client_secret(self, client_key: str, request: Any) -> str:
        return self.p.consumer_secret if client_key == self.p.consumer_key else "dummysecret"

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return client_key == self.p.consumer_key

    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: str,
        nonce: str,
        request: Any,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        with self.p.lock:
            key = (client_key, timestamp, nonce, request_token or access_token)
            if key in self.p.nonces:
                return False
            self.p.nonces.add(key)
            return True

    def validate_redirect_uri(self, client_key: str, redirect_uri: str, request: Any) -> bool:
        return redirect_uri.startswith("http://127.0.0.1:")

    def get_default_realms(self, client_key: str, request: Any) -> list[str]:
        return []

    def validate_requested_realms(self, client_key: str, realms: Any, request: Any) -> bool:
        return True

    def save_request_token(self, token: dict[str, Any], request: Any) -> None:
        with self.p.lock:
            self.p.request_tokens[token["oauth_token"]] = {
                "secret": token["oauth_token_secret"],
                "callback": request.redirect_uri,
                "verifier": None,
            }

    def get_request_token_secret(self, client_key: str, token: str, request: Any) -> str:
        found = self.p.request_tokens.get(token)
        return found["secret"] if found else "dummysecret"

    def validate_request_token(self, client_key: str, token: str, request: Any) -> bool:
        return token in self.p.request_tokens

    def validate_verifier(self, client_key: str, token: str, verifier: str, request: Any) -> bool:
        found = self.p.request_tokens.get(token)
        return bool(found and found["verifier"] and found["verifier"] == verifier)

    def get_realms(self, token: str, request: Any) -> list[str]:
        return []

    def verify_request_token(self, token: str, request: Any) -> bool:
        return token in self.p.request_tokens

    def verify_realms(self, token: str, realms: Any, request: Any) -> bool:
        return True

    def get_redirect_uri(self, token: str, request: Any) -> str:
        return self.p.request_tokens[token]["callback"]

    def save_verifier(self, token: str, verifier: dict[str, Any], request: Any) -> None:
        self.p.request_tokens[token]["verifier"] = verifier["oauth_verifier"]

    def invalidate_request_token(self, client_key: str, request_token: str, request: Any) -> None:
        with self.p.lock:
            self.p.request_tokens.pop(request_token, None)

    def save_access_token(self, token: dict[str, Any], request: Any) -> None:
        with self.p.lock:
            self.p.access_tokens[token["oauth_token"]] = token["oauth_token_secret"]

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        return self.p.access_tokens.get(token, "dummysecret")

    def validate_access_token(self, client_key: str, token: str, request: Any) -> bool:
        return token in self.p.access_tokens

    def validate_realms(
        self, client_key: str, token: str, request: Any, uri: Any = None, realms: Any = None
    ) -> bool:
        return True


class OAuth1Provider:
    """The OAuth 1.0a endpoints of one app (consumer key and secret)."""

    def __init__(
        self, consumer_key: str = "xapikey", consumer_secret: str = "xapisecretSECMARK"
    ) -> None:
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.lock = threading.Lock()
        self.nonces: set[tuple[Any, ...]] = set()
        self.request_tokens: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, str] = {}
        self.signed_calls = 0
        self.refused: list[str] = []  # why oauthlib refused a signed call
        validator = _Validator(self)
        marked = lambda *_request: _token(MARKER)  # noqa: E731  (tokens the tests grep for)
        self._request = RequestTokenEndpoint(validator, token_generator=marked)
        self._access = AccessTokenEndpoint(validator, token_generator=marked)
        self._resource = ResourceEndpoint(validator)
        self._base = ""

    def install(self, fake: Any) -> None:
        self._fake = fake
        fake.route("POST", "/oauth/request_token", self.request_token)
        fake.route("GET", "/oauth/authorize", self.authorize)
        fake.route("POST", "/oauth/access_token", self.access_token)

    def _uri(self, request: Request) -> str:
        query = urlencode([(k, v) for k, vs in request.query.items() for v in vs])
        return f"{self._fake.url}{request.path}" + (f"?{query}" if query else "")

    def _headers(self, request: Request) -> dict[str, str]:
        return {k.title(): v for k, v in request.headers.items()}

    def request_token(self, request: Request) -> Response:
        _headers, body, status = self._request.create_request_token_response(
            self._uri(request), "POST", request.body.decode() or None, self._headers(request)
        )
        return Response(status, body or b"", {"Content-Type": "application/x-www-form-urlencoded"})

    def authorize(self, request: Request) -> Response:
        """The person said yes: a verifier for the request token, back to its callback."""
        token = request.query.get("oauth_token", [""])[0]
        found = self.request_tokens.get(token)
        if found is None:
            return Response(400, {"errors": [{"message": "unknown oauth_token"}]})
        verifier = _token()
        found["verifier"] = verifier
        target = (
            found["callback"] + "?" + urlencode({"oauth_token": token, "oauth_verifier": verifier})
        )
        return Response(302, b"", {"Location": target})

    def access_token(self, request: Request) -> Response:
        _headers, body, status = self._access.create_access_token_response(
            self._uri(request),
            "POST",
            request.body.decode() or None,
            self._headers(request),
            credentials={"user_id": "1580000000000000001", "screen_name": "TrygAalborg"},
        )
        return Response(status, body or b"", {"Content-Type": "application/x-www-form-urlencoded"})

    def valid_call(self, request: Request) -> bool:
        """A signed API call whose signature, nonce and token oauthlib accepts."""
        form = str(request.header("content-type") or "").startswith(
            "application/x-www-form-urlencoded"
        )
        body = request.body.decode("utf-8", "replace") if form else None
        valid, checked = self._resource.validate_protected_resource_request(
            self._uri(request), request.method, body, self._headers(request)
        )
        if valid:
            self.signed_calls += 1
        else:
            self.refused.append(str(getattr(checked, "validator_log", "")))
        return bool(valid)
