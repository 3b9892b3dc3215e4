"""The `x` channel: posts on X through API v2 with an OAuth 2.0 user-context token.

A post is `POST /2/tweets {"text", "media": {"media_ids"}}`; the id is `data.id` of the 201. An
image is uploaded first with `POST /2/media/upload` (multipart `media` + `media_category=
tweet_image`) and gets its alt text from `POST /2/media/metadata {"id", "metadata": {"alt_text":
{"text"}}}` (at most 1,000 characters). The link is added to the text when the template left it
out, and the text must weigh at most 280 as X counts
(`comms.content.text.x_length`: twitter-text v3, every link 23, bare domains too).

Figures come from `GET /2/tweets/:id?tweet.fields=public_metrics,non_public_metrics,
organic_metrics`: impressions (non-public when X gives them, else public), link clicks
(`url_link_clicks`, owner only and only for posts up to 30 days old) and engagements (likes +
replies + reposts + quotes). X has no unique reach, so `reach` stays None. When X refuses the
owner-only fields (it answers 200 with only `errors`), the public figures are read alone; which
field each figure came from is in `Figures.raw["metric_names"]`, since the two impression counts
are not the same figure for a post that was also promoted.

No idempotency key: X refuses identical text with 403 "duplicate content", which after an
ambiguous failure means "probably ours", so `find()` looks through the account's own recent posts
(from the post's scheduled time on) and a match is the receipt. A 429 waits for the reset X
names: `x-user-limit-24hour-reset` or `x-app-limit-24hour-reset` when a daily cap is spent, else
`x-rate-limit-reset` (Unix seconds), and `Retry-After` first when present.

Verified with `search` (2026-11, docs.x.com OpenAPI pages): `POST /2/media/upload` body `media` +
`media_category` (tweet_image) with answer `data.id`, `media_key`, `expires_after_secs`;
`POST /2/media/metadata` with `id` and `metadata.alt_text.text`; `GET /2/users/:id/tweets`
(`max_results` 5-100, `start_time`); `GET /2/users/me`; owner-only metrics coming back as a 200
with only `errors` (twittered PR #366). Not confirmed: the exact 400 body for an over-long text,
the duplicate wording (from a 2026 issue thread), and how long X remembers duplicates.
"""

from __future__ import annotations

import html
import mimetypes
import unicodedata
from pathlib import Path
from typing import Any

import requests

from comms.channels import token_answer
from comms.channels.answers import id_field, obj
from comms.channels.base import Channel, CheckResult, Figures, OutgoingPost, PreviewCard, Receipt
from comms.channels.http import (
    HttpClient,
    Scrubber,
    bearer_client,
    error_reason,
    parse_reset,
    parse_retry_after,
)
from comms.channels.images import checked_image, uploading
from comms.channels.lookup import DUE_MARGIN, already_there, since_due
from comms.channels.oauth import OAuthApp
from comms.channels.oauth1 import OAuth1App, user_signer
from comms.channels.options import ID, Option
from comms.channels.settings import ChannelSettings
from comms.content.text import X_URL_LENGTH, TextRule, replace_urls, x_length
from comms.errors import (
    AuthError,
    ChannelError,
    ConfigError,
    RateLimitedError,
    RejectedError,
    TransientError,
)

DEFAULT_BASE_URL = "https://api.x.com"
POST_URL = "https://x.com/i/web/status/{id}"
METRIC_FIELDS = "public_metrics,non_public_metrics,organic_metrics"
AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
TOKEN_PATH = "/2/oauth2/token"
OAUTH1_AUTHORIZE_URL = "https://api.x.com/oauth/authorize"
# offline.access: without it X gives no refresh token and the access token dies in two hours
SCOPES = ("tweet.read", "tweet.write", "users.read", "media.write", "offline.access")


class DuplicateContentError(RejectedError):
    """X refused the text as a duplicate of one of the account's posts (403)."""


class XChannel(Channel):
    """One X account, posting with its OAuth 2.0 user-context access token."""

    name = "x"
    receipt_has_url = True
    idempotent = False  # no idempotency key; duplicates are found with find() instead
    has_metrics = True  # public_metrics always; owner-only figures for 30 days

    label = "X"
    title = "X (Twitter)"
    post_words = ("opslag på X", "opslag på X")
    # weighted length, twitter-text v3: code points weigh 1 or 2, every link (bare too) 23
    text_limit = 280
    text_rule = TextRule(counting="x", max_length=text_limit, url_length=X_URL_LENGTH)
    preview = PreviewCard("x", "X", ("Svar", "Repost", "Like", "Bogmærke"), handle=True)
    options = (
        Option(
            "token_env",
            str,
            "variable holding the OAuth 2.0 user token (not needed once connected)",
            secret=True,
        ),
        Option("client_id", str, "the app's OAuth 2.0 client id, for comms channels connect"),
        Option(
            "client_secret_env",
            str,
            "variable holding the OAuth 2.0 client secret (a confidential client)",
            secret=True,
        ),
        Option("authorize_url", str, "X's authorisation page", default=AUTHORIZE_URL),
        Option("oauth_base_url", str, "where X's token endpoint is; default: base_url"),
        Option("scopes", list, "OAuth 2.0 scopes asked for", default=list(SCOPES), items=str),
        Option("api_key_env", str, "variable holding the app's API key (OAuth 1.0a)", secret=True),
        Option(
            "api_secret_env", str, "variable holding the app's API secret (OAuth 1.0a)", secret=True
        ),
        Option(
            "token_secret_env",
            str,
            "variable holding an OAuth 1.0a user token's secret (with token_env)",
            secret=True,
        ),
        Option(
            "oauth1_authorize_url",
            str,
            "X's OAuth 1.0a authorisation page",
            default=OAUTH1_AUTHORIZE_URL,
        ),
        Option("user_id", ID, "the account's id; default: read from /2/users/me"),
        Option("base_url", str, "the API's address", default=DEFAULT_BASE_URL),
        Option("find_count", int, "recent posts looked through for an earlier copy", default=20),
    )
    alt_text_limit = 1000  # media metadata alt_text.text
    image_limit = 5 * 1024 * 1024  # bytes for tweet_image (UNCONFIRMED; the long-standing cap)
    find_slack = DUE_MARGIN  # clock skew allowed when find() bounds by scheduled time

    def __init__(self, settings: ChannelSettings) -> None:
        super().__init__(settings)
        self.base_url = str(settings.get("base_url", DEFAULT_BASE_URL)).rstrip("/")
        self.timeout = float(settings.get("timeout_seconds", 30))
        self.find_count = max(5, min(100, int(settings.get("find_count", 20))))
        self._user_id: str | None = str(settings.get("user_id") or "") or None
        self._scrub = Scrubber()

    @property
    def token_env(self) -> str:
        return str(self.settings.get("token_env") or "token_env")

    def oauth1_app(self) -> OAuth1App | None:
        """X's OAuth 1.0a (user context, tokens that do not expire) for the app's API key and
        secret; None when the config names neither."""
        if not self.settings.get("api_key_env") or not self.settings.get("api_secret_env"):
            return None
        base = str(self.settings.get("oauth_base_url") or self.base_url).rstrip("/")
        return OAuth1App(
            service=f"x ({self.settings.name})",
            api_url=base,
            authorize_url=str(self.settings.get("oauth1_authorize_url") or OAUTH1_AUTHORIZE_URL),
            consumer_key=self.settings.secret("api_key_env"),
            consumer_secret=self.settings.secret("api_secret_env"),
        )

    def _client(self) -> HttpClient:
        try:
            token = self.settings.secret("token_env")
            token_secret = self._token_secret()
            app = self.oauth1_app() if token_secret else None
        except ConfigError as exc:
            raise AuthError(f"x: {exc}") from None
        if token_secret is None:
            self._scrub = Scrubber([token])
            return bearer_client(self, token)
        if app is None:
            raise AuthError(
                f"x ({self.settings.name}): an OAuth 1.0a token needs the app's api_key_env and "
                "api_secret_env to sign with"
            )
        self._scrub = Scrubber([token, token_secret, app.consumer_secret])
        http = HttpClient(
            self.base_url,
            service=f"x ({self.settings.name})",
            auth_env=self.token_env,
            secrets=[token, token_secret, app.consumer_key, app.consumer_secret],
            timeout=(min(5.0, self.timeout), self.timeout),
        )
        http.session.auth = user_signer(app, token, token_secret)
        return http

    def _token_secret(self) -> str | None:
        """An OAuth 1.0a token's secret: stored by connect --oauth1, or from token_secret_env."""
        try:
            return self.settings.secret("token_secret_env")
        except ConfigError:
            if self.settings.get("token_secret_env"):
                raise
            return None

    def oauth_app(self) -> OAuthApp | None:
        """X's OAuth 2.0 authorisation code flow with PKCE; a confidential client
        authenticates with HTTP Basic, a public one sends its id in the form."""
        client_id = str(self.settings.get("client_id") or "")
        if not client_id:
            return None
        secret = None
        if self.settings.get("client_secret_env"):
            secret = self.settings.secret("client_secret_env")
        base = str(self.settings.get("oauth_base_url") or self.base_url).rstrip("/")
        return OAuthApp(
            service=f"x ({self.settings.name})",
            authorize_url=str(self.settings.get("authorize_url") or AUTHORIZE_URL),
            token_url=base + TOKEN_PATH,
            client_id=client_id,
            client_secret=secret,
            scopes=tuple(self.settings.get("scopes") or SCOPES),
            client_auth="basic",
        )

    # -- the contract -----------------------------------------------------------------------

    def publish(self, post: OutgoingPost) -> Receipt:
        """Upload the image with its alt text (if any), then create the post."""
        text = self._text(post)
        _check_image(post, self.alt_text_limit, self.image_limit)
        http = self._client()
        body: dict[str, Any] = {"text": text}
        if post.image_path is not None:
            media_id = self._upload_image(http, Path(post.image_path), str(post.image_alt))
            body["media"] = {"media_ids": [media_id]}
        try:
            data = http.json("POST", "/2/tweets", json=body, classify=self._classify)
        except DuplicateContentError as duplicate:
            return already_there(self.find, post, duplicate)
        return _receipt(id_field(obj(data, what="x").get("data"), what="x: data"))

    def find(self, post: OutgoingPost) -> Receipt | None:
        """The account's own post with this text, made no earlier than the post was due."""
        http = self._client()
        user = self._me(http)
        params: dict[str, Any] = {
            "max_results": self.find_count,
            "tweet.fields": "created_at,text",
            "exclude": "replies,retweets",
        }
        since = since_due(post, self.find_slack)
        if since is not None:
            params["start_time"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        data = http.json("GET", f"/2/users/{user}/tweets", params=params, classify=self._classify)
        wanted = _comparable(self._text(post))
        for tweet in data.get("data", []) if isinstance(data, dict) else []:
            if isinstance(tweet, dict) and _comparable(str(tweet.get("text", ""))) == wanted:
                return _receipt(id_field(tweet, what="x"))
        return None

    def metrics(self, receipt: Receipt) -> Figures:
        """Impressions, link clicks and engagements; never reach, which X does not count."""
        http = self._client()
        path = f"/2/tweets/{receipt.external_id}"
        data = http.json(
            "GET", path, params={"tweet.fields": METRIC_FIELDS}, classify=self._classify
        )
        if isinstance(data, dict) and not data.get("data") and data.get("errors"):
            # owner-only fields refused (post older than 30 days, or not ours): public only
            data = http.json(
                "GET", path, params={"tweet.fields": "public_metrics"}, classify=self._classify
            )
        tweet = data.get("data") if isinstance(data, dict) else None
        if not isinstance(tweet, dict):
            reason = _first_error(data) or "no data"
            raise RejectedError(f"x: post {receipt.external_id} cannot be read: {reason}")
        public = tweet.get("public_metrics") or {}
        owner_group = next(
            (g for g in ("non_public_metrics", "organic_metrics") if tweet.get(g)), None
        )
        private = tweet.get(owner_group) or {} if owner_group else {}
        engagement_keys = ("like_count", "reply_count", "retweet_count", "quote_count")
        known = [int(c) for k in engagement_keys if isinstance(c := public.get(k), int)]
        names: dict[str, str] = {}
        impressions: int | None = None
        for group, values in ((owner_group, private), ("public_metrics", public)):
            if group and isinstance(values.get("impression_count"), int):
                impressions = int(values["impression_count"])
                names["impressions"] = f"{group}.impression_count"
                break
        clicks = _int(private.get("url_link_clicks"))
        if clicks is not None and owner_group:
            names["clicks"] = f"{owner_group}.url_link_clicks"
        if known:
            names["engagements"] = "public_metrics." + "+".join(engagement_keys)
        return Figures(
            reach=None,  # X has no unique-reach figure
            impressions=impressions,
            engagements=sum(known) if known else None,
            clicks=clicks,
            raw={**data, "metric_names": names},
        )

    def check(self) -> CheckResult:
        """The token reads its own account (`/2/users/me`); X does not say when it expires."""
        try:
            http = self._client()
            data = http.json("GET", "/2/users/me", classify=self._classify)
        except (AuthError, RejectedError) as exc:
            return CheckResult(False, str(exc))
        except RateLimitedError as exc:
            return CheckResult(False, f"{exc} (try again later)")
        user = (data.get("data") or {}) if isinstance(data, dict) else {}
        self._user_id = str(user.get("id") or "") or self._user_id
        return CheckResult(
            True,
            f"posts as @{user.get('username', '?')}; X does not report when the token expires",
        )

    # -- steps ------------------------------------------------------------------------------

    def _text(self, post: OutgoingPost) -> str:
        """The text, with the link appended when the template left it out; at most 280."""
        text = post.text.strip()
        if post.link and post.link not in text:
            text = f"{text}\n\n{post.link}"
        length = x_length(text)
        if length > self.text_limit:
            raise RejectedError(
                f"x: the text weighs {length} of {self.text_limit} as X counts "
                "(every URL counts 23; emoji and CJK count 2); shorten the X template"
            )
        return text

    def _me(self, http: HttpClient) -> str:
        if self._user_id is None:
            data = http.json("GET", "/2/users/me", classify=self._classify)
            self._user_id = str(((data or {}).get("data") or {}).get("id") or "") or None
            if self._user_id is None:
                raise TransientError("x: /2/users/me answered without the account's id")
        return self._user_id

    def _upload_image(self, http: HttpClient, path: Path, alt: str) -> str:
        """Upload, then set alt text; nothing is posted yet, so a retry can never double."""
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with uploading(path):
            data = http.json(
                "POST",
                "/2/media/upload",
                files={"media": (path.name, path.read_bytes(), content_type)},
                data={"media_category": "tweet_image", "media_type": content_type},
                classify=self._classify,
            )
            media_id = (data.get("data") or {}).get("id") if isinstance(data, dict) else None
            if not media_id:
                raise TransientError("x: media upload answered without data.id")
            http.json(
                "POST",
                "/2/media/metadata",
                json={"id": str(media_id), "metadata": {"alt_text": {"text": alt}}},
                classify=self._classify,
            )
        return str(media_id)

    # -- errors -----------------------------------------------------------------------------

    def _classify(self, response: requests.Response) -> ChannelError | None:
        """X's own signals; None leaves the rest to HttpClient's default mapping."""
        status = response.status_code
        reason = self._scrub(_reason(response))
        say = f"x ({self.settings.name}): HTTP {status}: {reason}"
        if status == 429:
            return RateLimitedError(say, retry_after=_rate_limit_wait(response.headers))
        if status == 403 and "duplicate" in reason.lower():
            return DuplicateContentError(say, status=403)
        if status == 401:
            return AuthError(
                say + f" (OAuth 2.0 user tokens expire: connect with `comms channels connect "
                f"{self.settings.name}`, or renew the token in ${self.token_env})",
                status=status,
                token=token_answer.x(response),
            )
        if status == 403:
            return AuthError(
                say + f" (the token needs tweet.write, users.read and media.write; renew it in "
                f"${self.token_env})",
                status=status,
            )
        if status == 400:
            return RejectedError(say, status=status)
        return None


def _rate_limit_wait(headers: Any) -> float | None:
    """Retry-After, else the reset of the limit that is spent (a daily cap before the window)."""
    wait = parse_retry_after(headers.get("Retry-After"))
    if wait is not None:
        return wait
    for prefix in ("x-user-limit-24hour", "x-app-limit-24hour", "x-rate-limit"):
        if headers.get(f"{prefix}-remaining") == "0":
            wait = parse_reset(headers.get(f"{prefix}-reset"))
            if wait is not None:
                return wait
    resets = [
        parse_reset(headers.get(f"{p}-reset")) for p in ("x-rate-limit", "x-user-limit-24hour")
    ]
    known = [r for r in resets if r is not None]
    return min(known) if known else None


def _reason(response: requests.Response) -> str:
    """X's words: problem `detail`, or the first of `errors[]` (validation or code 88)."""
    try:
        body = response.json()
    except ValueError:
        return error_reason(response)
    if isinstance(body, dict):
        detail = body.get("detail")
        first = _first_error(body)
        if isinstance(detail, str) and detail:
            return f"{detail} ({first})" if first and first not in detail else detail
        if first:
            return first
    return error_reason(response)


def _first_error(body: Any) -> str | None:
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        item = errors[0]
        return str(item.get("message") or item.get("detail") or item.get("title") or item)[:300]
    return None


def _comparable(text: str) -> str:
    """Text as X gives it back, made comparable: unescaped, URLs (t.co) removed, spaces single."""
    text = unicodedata.normalize("NFC", html.unescape(text))
    return " ".join(replace_urls(text, " ", bare=True).split())


def _receipt(tweet_id: str) -> Receipt:
    return Receipt(external_id=tweet_id, url=POST_URL.format(id=tweet_id))


def _check_image(post: OutgoingPost, alt_limit: int, size_limit: int) -> None:
    if post.image_path is None:
        return
    path, alt = checked_image(post, why=": posts on X need one")
    if len(alt) > alt_limit:
        raise RejectedError(f"alt text of {path} is {len(alt)} characters; X takes {alt_limit}")
    if path.stat().st_size > size_limit:
        raise RejectedError(f"image {path} is over {size_limit // (1024 * 1024)} MB, X's limit")


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None
