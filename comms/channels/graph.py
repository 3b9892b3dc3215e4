"""What Facebook Pages and Instagram share: the Meta Graph API's auth, error codes and limits.

Both adapters talk to the same Graph API (`https://graph.facebook.com/v24.0` by default), send
the token as the documented `access_token` parameter (query for GET, form field for POST, never
logged: HttpClient scrubs it), and get failures in one envelope,
`{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}`, usually
with HTTP 400 whatever the cause, so the class of a failure is read from the code, not the status.

Verified against the Graph "Handling Errors" page (search, docs corpus): 1/2 transient, 4/17/341
throttling, 10 and 200-299 permission, 190 token expired/invalid (subcodes 458/459/460), 102
session, 368 temporarily blocked, 506 duplicate post, 1609005 link scrape failure. From public
code (UNCONFIRMED by a primary source): 32 and 613 (page / call-rate throttling), 80001-80099
(Pages Business Use Case throttling), 9 with subcode 2207042 (Instagram's daily publishing
limit), and `X-Business-Use-Case-Usage`'s `estimated_time_to_regain_access` being in **minutes**.
`/debug_token` returning `data.{is_valid, expires_at, data_access_expires_at, scopes}` with 0
meaning "never" is from the reference and Meta's Threads twin of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests

from comms.channels import token_answer
from comms.channels.http import HttpClient, parse_retry_after
from comms.channels.lookup import flat
from comms.channels.oauth import Grant, OAuthApp, Pkce
from comms.channels.options import ID, Option
from comms.channels.settings import ChannelSettings
from comms.errors import (
    AuthError,
    ChannelError,
    ConfigError,
    RateLimitedError,
    RejectedError,
    TransientError,
)

GRAPH_URL = "https://graph.facebook.com/v24.0"  # docs show v24-v27 in 2026; pin, don't float

DIALOG_URL = "https://www.facebook.com/v24.0/dialog/oauth"  # Facebook Login's dialog

# the options of both Graph adapters (Facebook, Instagram)
GRAPH_OPTIONS = (
    Option(
        "token_env",
        str,
        "variable holding the access token (not needed once connected)",
        secret=True,
    ),
    Option("client_id", ID, "the Meta app's id, for comms channels connect"),
    Option("client_secret_env", str, "variable holding the Meta app's secret", secret=True),
    Option("authorize_url", str, "Facebook Login's dialog", default=DIALOG_URL),
    Option(
        "app_token_env",
        str,
        "variable holding an app token for /debug_token (token expiry); default: the token",
        secret=True,
    ),
    Option("base_url", str, "the Graph API's address, with its version", default=GRAPH_URL),
)
AUTH_CODES = frozenset({102, 104, 190})  # session / token missing / token expired or invalid
TRANSIENT_CODES = frozenset({1, 2})  # "API Unknown", "API Service": downtime, retry
THROTTLE_CODES = frozenset({4, 9, 17, 32, 341, 613})  # app, quota, user, page, app limit, rate
BUC_THROTTLE = range(80000, 80100)  # Business Use Case throttling (Pages 80001, IG 80002, ...)
INVALID_METRIC_CODE = 100  # "(#100) The value must be a valid insights metric" (and others)
BLOCKED_CODE = 368  # "temporarily blocked for policies violations": wait and retry, not sent
BUC_HEADER = "X-Business-Use-Case-Usage"


@dataclass(frozen=True)
class GraphError:
    """The fields of a Graph error body that decide what the daemon does."""

    message: str
    type: str | None
    code: int | None
    subcode: int | None
    is_transient: bool
    fbtrace_id: str | None

    def describe(self) -> str:
        parts = [f"code {self.code}"] if self.code is not None else []
        if self.subcode is not None:
            parts.append(f"subcode {self.subcode}")
        if self.fbtrace_id:
            parts.append(f"fbtrace_id {self.fbtrace_id}")
        return f"{self.message} ({', '.join(parts)})" if parts else self.message


def graph_error(response: requests.Response) -> GraphError | None:
    """The Graph error in a response body, or None when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    return GraphError(
        message=str(error.get("message") or response.reason or "error"),
        type=error.get("type"),
        code=_int(error.get("code")),
        subcode=_int(error.get("error_subcode")),
        is_transient=bool(error.get("is_transient")),
        fbtrace_id=error.get("fbtrace_id"),
    )


def buc_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds until access returns, from X-Business-Use-Case-Usage (its value is in minutes)."""
    raw = headers.get(BUC_HEADER)
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes = [
        float(entry.get("estimated_time_to_regain_access") or 0)
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    longest = max(minutes, default=0.0)
    return longest * 60 if longest > 0 else None


def classify(response: requests.Response, *, service: str, auth_env: str) -> ChannelError | None:
    """Map a Graph error body to the error class the queue acts on; None leaves it to HTTP."""
    error = graph_error(response)
    if error is None:
        return None
    result = _classify(response, error, service=service, auth_env=auth_env)
    # Graph's own codes (506: a duplicate) ride on the error class every channel shares;
    # graph_code() reads them back
    result.graph_code = error.code  # type: ignore[attr-defined]  # a Graph-only extra
    result.graph_subcode = error.subcode  # type: ignore[attr-defined]  # a Graph-only extra
    return result


def graph_code(error: ChannelError) -> int | None:
    """The Graph error code behind a ChannelError raised by GraphApi, if there was one."""
    return getattr(error, "graph_code", None)


def _classify(
    response: requests.Response, error: GraphError, *, service: str, auth_env: str
) -> ChannelError:
    status = response.status_code
    code = error.code
    text = f"{service}: HTTP {status}: {error.describe()}"
    sent = response.request is None or response.request.method != "GET"
    if code in AUTH_CODES or (code is None and error.type == "OAuthException"):
        verdict = token_answer.graph(code, error.subcode, error.message)
        return AuthError(f"{text} (renew the token in ${auth_env})", status=status, token=verdict)
    if code == 10 and "viewers" in error.message.lower():
        # Instagram's "(#10) Not enough viewers for the media to show insights": no figure yet
        return RejectedError(text, status=status)
    if code == 10 or (code is not None and 200 <= code <= 299):
        return AuthError(
            f"{text} (the token lacks a permission or Page task: grant it, "
            f"then renew the token in ${auth_env})",
            status=status,
        )
    if code in THROTTLE_CODES or (code is not None and code in BUC_THROTTLE):
        wait = buc_wait(response.headers)
        if wait is None:
            wait = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimitedError(text, retry_after=wait, status=status)
    if code in TRANSIENT_CODES or error.is_transient:
        return TransientError(text, status=status, maybe_delivered=sent)
    if code == BLOCKED_CODE:
        return TransientError(text, status=status, maybe_delivered=False)
    if status >= 500:
        return TransientError(text, status=status, maybe_delivered=sent)
    return RejectedError(text, status=status)


class GraphApi:
    """One channel's Graph calls: reads the token at call time and classifies every failure."""

    def __init__(self, settings: ChannelSettings, *, service: str) -> None:
        self.settings = settings
        self.service = service
        self.base_url = str(settings.get("base_url") or GRAPH_URL)
        self.token_env = str(settings.get("token_env") or "")
        seconds = float(settings.get("timeout_seconds", 30))
        self.timeout = (min(5.0, seconds), seconds)
        self._http: HttpClient | None = None
        self._key: tuple[str, ...] = ()

    def required(self, key: str) -> str:
        """A required id option (`page_id`, `ig_user_id`); missing, the post cannot be placed."""
        value = str(self.settings.get(key) or "")
        if not value:
            name = self.settings.name
            raise RejectedError(
                f'channel {name!r} has no {key} (add {key} = "..." to [channels.{name}])'
            )
        return value

    def token(self) -> str:
        """The token from its environment variable; a missing one pauses the channel."""
        try:
            return self.settings.secret("token_env")
        except ConfigError as exc:
            raise AuthError(f"{self.service}: {exc}") from None

    def secret(self, key: str) -> str:
        """Another secret of the channel (e.g. `app_token_env`), read at call time."""
        try:
            return self.settings.secret(key)
        except ConfigError as exc:
            raise AuthError(f"{self.service}: {exc}") from None

    def client(self, token: str, *also: str) -> HttpClient:
        """The HTTP client scrubbing this token (and any other secret in `also`)."""
        key = (token, *also)
        if self._http is None or self._key != key:
            self._http = HttpClient(
                self.base_url,
                service=self.service,
                auth_env=self.token_env,
                secrets=key,
                timeout=self.timeout,
            )
            self._key = key
        return self._http

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        token = self.token()
        return self._call("GET", path, token, params={**(params or {}), "access_token": token})

    def post(
        self,
        path: str,
        data: Mapping[str, Any],
        files: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        token = self.token()
        return self._call("POST", path, token, data={**data, "access_token": token}, files=files)

    def _call(
        self, method: str, path: str, token: str, *, also: tuple[str, ...] = (), **kwargs: Any
    ) -> dict[str, Any]:
        http = self.client(token, *also)

        def graph(response: requests.Response) -> ChannelError | None:
            error = classify(response, service=self.service, auth_env=self.token_env)
            if error is not None:
                error.args = (http.scrub(str(error)),)
            return error

        body = http.json(method, path, classify=graph, **kwargs)
        if not isinstance(body, dict):
            raise TransientError(
                f"{self.service}: {method} {path}: the answer is not a JSON object",
                maybe_delivered=method != "GET",
            )
        return body

    def insights(
        self, object_id: str, metrics: Mapping[str, str | tuple[str, ...]], **params: Any
    ) -> tuple[dict[str, int | None], dict[str, Any], dict[str, str]]:
        """`/{id}/insights` one metric per call (one invalid metric fails a whole request, #100).

        Each field names its metric, or several: the current name first, then the ones it
        replaced, tried in turn while Graph refuses a name as not a valid metric (#100), so a
        figure survives a renaming on either side. Returns the values by Figures field, the raw
        answers (with `metric_names`: field -> the name its value came from) and the errors by
        metric; a field none of whose names Graph accepts (deprecated, wrong media type, too few
        viewers) is None with its errors.
        """
        values: dict[str, int | None] = {}
        raw: dict[str, Any] = {}
        errors: dict[str, str] = {}
        used: dict[str, str] = {}
        for field, names in metrics.items():
            values[field] = None
            for metric in (names,) if isinstance(names, str) else names:
                try:
                    body = self.get(f"/{object_id}/insights", {"metric": metric, **params})
                except RejectedError as exc:
                    errors[metric] = str(exc)
                    if graph_code(exc) == INVALID_METRIC_CODE:
                        continue  # this name is not (or no longer) a metric: try the next
                    break  # a metric, refused for this post (too few viewers): no other will do
                raw[metric] = body
                values[field] = number(figure(body))  # an empty data list: "no data yet"
                used[field] = metric
                break
        if used:
            raw["metric_names"] = used
        return values, raw, errors

    def token_info(self) -> TokenInfo:
        """Ask /debug_token about the token: valid or not, its permissions, its earliest expiry.

        The caller is the token itself unless `app_token_env` names an app token (the reference
        asks for an app or app-developer token; a token of the same app can inspect itself).
        """
        token = self.token()
        caller = self.secret("app_token_env") if self.settings.get("app_token_env") else token
        body = self._call(
            "GET",
            "/debug_token",
            token,
            also=(caller,),
            params={"input_token": token, "access_token": caller},
        )
        data = body.get("data")
        if not isinstance(data, dict):
            data = {}
        scopes = tuple(str(s) for s in data.get("scopes") or [])
        if not data.get("is_valid"):
            reason = (data.get("error") or {}).get("message") or "the token is not valid"
            return TokenInfo(False, f"{reason} (renew the token in ${self.token_env})", scopes)
        expiries = []
        for key, label in (("expires_at", "token"), ("data_access_expires_at", "data access")):
            stamp = _int(data.get(key))
            if stamp:  # 0 means "never"
                expiries.append((datetime.fromtimestamp(stamp, UTC), label))
        if not expiries:
            return TokenInfo(True, "token never expires", scopes)
        when, label = min(expiries)
        return TokenInfo(True, f"{label} expires {when:%Y-%m-%d}", scopes, when)


def login_app(
    settings: ChannelSettings, *, service: str, scopes: tuple[str, ...]
) -> OAuthApp | None:
    """Facebook Login for this channel's Meta app (no PKCE: a web app with its secret)."""
    client_id = str(settings.get("client_id") or "")
    if not client_id or not settings.get("client_secret_env"):
        return None
    base = str(settings.get("base_url") or GRAPH_URL).rstrip("/")
    return OAuthApp(
        service=service,
        authorize_url=str(settings.get("authorize_url") or DIALOG_URL),
        token_url=f"{base}/oauth/access_token",
        client_id=client_id,
        client_secret=settings.secret("client_secret_env"),
        scopes=scopes,
        client_auth="body",
        pkce=False,
    )


def page_token_grant(
    api: GraphApi, app: OAuthApp, *, code: str, redirect_uri: str, page_id: str | None
) -> Grant:
    """The code → a short-lived user token → a long-lived one (`fb_exchange_token`) → the
    Page's token read with it, which does not expire (a Page token read with a short-lived user
    token would die within hours); its expiry is read back with `/debug_token` and stored.
    Without a Page (an Instagram account connected as its user), the long-lived user token
    itself, about 60 days."""
    secret = app.client_secret or ""
    http = HttpClient(
        api.base_url, service=api.service, secrets=[secret, code], timeout=api.timeout
    )
    short = _token_of(
        http.json(
            "GET",
            "/oauth/access_token",
            params={
                "client_id": app.client_id,
                "client_secret": secret,
                "redirect_uri": redirect_uri,
                "code": code,
            },
        ),
        api.service,
    )
    http = api.client(short, secret, code)
    user = _token_of(
        http.json(
            "GET",
            "/oauth/access_token",
            params={
                "grant_type": "fb_exchange_token",
                "client_id": app.client_id,
                "client_secret": secret,
                "fb_exchange_token": short,
            },
        ),
        api.service,
    )
    token = user
    if page_id:
        http = api.client(user, short, secret)
        page = http.json(
            "GET", f"/{page_id}", params={"fields": "access_token", "access_token": user}
        )
        token = _token_of(page, api.service)
    http = api.client(token, user, short, secret)
    debug = http.json(
        "GET",
        "/debug_token",
        params={"input_token": token, "access_token": f"{app.client_id}|{secret}"},
    )
    data = debug.get("data") if isinstance(debug, dict) else None
    data = data if isinstance(data, dict) else {}
    if not data.get("is_valid"):
        raise AuthError(f"{api.service}: /debug_token says the new token is not valid")
    stamp = _int(data.get("expires_at"))
    expires = datetime.fromtimestamp(stamp, UTC) if stamp else None  # 0: never
    return Grant({"access_token": token}, expires)


def _token_of(answer: Any, service: str) -> str:
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise AuthError(f"{service}: Graph answered without an access_token")
    return token


@dataclass(frozen=True)
class TokenInfo:
    """What /debug_token says about the channel's token."""

    valid: bool
    message: str
    scopes: tuple[str, ...] = ()
    expires_at: datetime | None = None


def figure(body: dict[str, Any]) -> Any:
    """The lifetime value of the single metric in an /insights answer; None when empty."""
    for item in body.get("data") or []:
        values = item.get("values") if isinstance(item, dict) else None
        if values and isinstance(values[-1], dict):
            return values[-1].get("value")
        if isinstance(item, dict) and "total_value" in item:
            return (item.get("total_value") or {}).get("value")
    return None


def number(value: Any) -> int | None:
    """A whole number from a metric value; a breakdown dict (reactions by type) is summed."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, dict):
        parts = [number(v) for v in value.values()]
        return sum(p for p in parts if p is not None)
    return _int(value)


def graph_time(text: Any) -> datetime | None:
    """Graph's '2026-11-24T10:00:00+0000' as an aware datetime."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None


def same_text(a: str | None, b: str | None) -> bool:
    """Equal after collapsing whitespace, as the service may trim or re-wrap it."""
    return flat(a) == flat(b)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


class MetaLogin:
    """Connecting a Facebook Page or an Instagram account: both go through Facebook Login for
    the configured Meta app and end with a Page token that does not expire. A mixin for the
    two adapters, which each hold a GraphApi as `api` and declare their `login_scopes`."""

    api: GraphApi
    settings: ChannelSettings
    login_scopes: ClassVar[tuple[str, ...]] = ()

    def oauth_app(self) -> OAuthApp | None:
        """Facebook Login for the configured Meta app (comms channels connect)."""
        return login_app(self.settings, service=self.api.service, scopes=self.login_scopes)

    def finish_oauth(
        self, app: OAuthApp, *, code: str, redirect_uri: str, pkce: Pkce | None, now: datetime
    ) -> Grant:
        """Trade the code up to a Page token that does not expire (page_token_grant)."""
        page = str(self.settings.get("page_id") or "") or None
        return page_token_grant(self.api, app, code=code, redirect_uri=redirect_uri, page_id=page)
