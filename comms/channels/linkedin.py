"""The `linkedin` channel: posts as an organisation page through the LinkedIn Posts API.

A text post with a link becomes `POST /rest/posts` with an `article` block (the preview card);
an image post uploads the image first (Images API `initializeUpload`, then `PUT` of the bytes)
and sends `content.media {id, altText}`, with the link left in the text, because a post carries
one kind of content. The new post's URN comes back in the `x-restli-id` header of a 201 with an
empty body. Figures come from `organizationalEntityShareStatistics` (lifetime, organic only):
`uniqueImpressionsCount` is reach, `impressionCount`, `clickCount`, and likes + comments + shares
are engagements; which field each figure came from is in `Figures.raw["metric_names"]`. The
endpoint keeps a rolling 12-month window, so an older post simply gets no figures. `check()`
reads the page's posts and, when `client_id` and `client_secret_env` are configured, asks
LinkedIn's token introspection for the token's scopes and expiry.

LinkedIn has no idempotency key. It rejects a copy of recent content with 422 `DUPLICATE_POST`,
so a duplicate is read as "maybe we posted this already": `find()` looks through the page's recent
posts (never older than the post's scheduled time) and a match is the receipt; without a match
the duplicate is a `RejectedError` naming the URN LinkedIn gave.

Commentary is in LinkedIn's "little" text format: the reserved characters ``\\ | { } @ [ ] ( )
< > # * _ ~`` are backslash-escaped, or LinkedIn silently cuts the post at the first one. URLs
and hashtags (``#word``) are left as they are so they stay links and hashtags.

Verified with `search` (2026-11): Posts API headers `LinkedIn-Version` + `X-Restli-Protocol-
Version: 2.0.0` and the `q=author` finder (learn.microsoft.com posts-api, several clients); the
Images API `initializeUploadRequest.owner` request and `value.uploadUrl/image` answer
(learn.microsoft.com images-api, api-evangelist schema); the little-format reserved characters
and that they must be escaped even outside elements (learn.microsoft.com little-text-format;
crossposter v1.1.5 release note on silent truncation); token introspection `POST
https://www.linkedin.com/oauth/v2/introspectToken` (form `client_id`, `client_secret`, `token`;
answer `active`, `status` active/expired/revoked, `expires_at` in Unix seconds, `scope`); the share
statistics fields and lifetime totals without `timeIntervals` (learn.microsoft.com
share-statistics). Not confirmed from primary documents: the `List(...)` form of `shares=`,
`altText` ≤ 4,086 characters, whether the 3,000-character limit counts escapes, and the exact
duplicate window.
"""

from __future__ import annotations

import contextlib
import mimetypes
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from comms.channels import token_answer
from comms.channels.answers import id_value
from comms.channels.base import Channel, CheckResult, Figures, OutgoingPost, PreviewCard, Receipt
from comms.channels.http import HttpClient, Scrubber, bearer_client, error_reason, parse_retry_after
from comms.channels.images import checked_image, uploading
from comms.channels.lookup import DUE_MARGIN, already_there, flat, since_due
from comms.channels.oauth import OAuthApp
from comms.channels.options import ID, Option
from comms.channels.settings import ChannelSettings
from comms.content.text import TextRule, url_spans
from comms.errors import (
    AuthError,
    ChannelError,
    ConfigError,
    RateLimitedError,
    RejectedError,
    TransientError,
)

DEFAULT_BASE_URL = "https://api.linkedin.com"
DEFAULT_OAUTH_URL = "https://www.linkedin.com"  # token introspection lives on www, not api
# posting, reading and the page's statistics as the organisation
SCOPES = ("w_organization_social", "r_organization_social", "rw_organization_admin")
DEFAULT_VERSION = "202605"  # LinkedIn-Version, YYYYMM; sunset about 12 months after release
POST_URL = "https://www.linkedin.com/feed/update/{urn}/"

# the little format's reserved characters: escape them or LinkedIn truncates the post
_RESERVED = set("\\|{}@[]()<>#*_~")
_HASHTAG = re.compile(r"(?<![\w&/#])#(?=\w*[^\W\d_])\w+")
_URN = re.compile(r"urn:li:(?:share|ugcPost):\d+")


class DuplicatePostError(RejectedError):
    """LinkedIn refused the post as a copy of recent content (422 DUPLICATE_POST)."""

    def __init__(self, message: str, *, urn: str | None = None) -> None:
        self.urn = urn
        super().__init__(message, status=422)


class LinkedinChannel(Channel):
    """An organisation page on LinkedIn, posting as `urn:li:organization:{organization_id}`."""

    name = "linkedin"
    receipt_has_url = True
    idempotent = False  # no idempotency key; duplicates are found with find() instead
    has_metrics = True  # organizationalEntityShareStatistics (needs rw_organization_admin)

    label = "LinkedIn"
    title = "LinkedIn-side"
    post_words = ("opslag på LinkedIn", "opslag på LinkedIn")
    text_limit = 3000  # commentary characters [3p]
    text_rule = TextRule(max_length=text_limit)
    preview = PreviewCard(
        "linkedin", "LinkedIn", ("Anbefal", "Kommenter", "Genopslå", "Send"), link_box=True
    )
    options = (
        Option("organization_id", ID, "the organisation page's id", required=True),
        Option(
            "token_env",
            str,
            "variable holding the access token (not needed once connected)",
            secret=True,
        ),
        Option(
            "scopes",
            list,
            "OAuth 2.0 scopes asked for when connecting",
            default=list(SCOPES),
            items=str,
        ),
        Option(
            "api_version",
            ID,
            "LinkedIn-Version (YYYYMM); bump about yearly",
            default=DEFAULT_VERSION,
        ),
        Option("client_id", ID, "the app's client id (with client_secret_env: token expiry)"),
        Option("client_secret_env", str, "variable holding the app's client secret", secret=True),
        Option("base_url", str, "the API's address", default=DEFAULT_BASE_URL),
        Option("oauth_url", str, "where tokens are introspected", default=DEFAULT_OAUTH_URL),
        Option("find_count", int, "recent posts looked through for an earlier copy", default=50),
    )
    alt_text_limit = 4086  # content.media.altText (UNCONFIRMED)
    find_slack = DUE_MARGIN  # clock skew allowed when find() bounds by scheduled time

    def __init__(
        self, settings: ChannelSettings, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        super().__init__(settings)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.base_url = str(settings.get("base_url", DEFAULT_BASE_URL)).rstrip("/")
        self.oauth_url = str(settings.get("oauth_url", DEFAULT_OAUTH_URL)).rstrip("/")
        self.version = str(settings.get("api_version", DEFAULT_VERSION))
        self.timeout = float(settings.get("timeout_seconds", 30))
        self.find_count = int(settings.get("find_count", 50))
        self._scrub = Scrubber()  # replaced by the secrets in use once a client is made

    # -- options --------------------------------------------------------------------------

    @property
    def author(self) -> str:
        org = str(self.settings.get("organization_id", "") or "").strip()
        if not org.isdigit():
            raise RejectedError(
                f"channel {self.settings.name!r} needs organization_id, the page's number "
                f'(add organization_id = "12345" to [channels.{self.settings.name}])'
            )
        return f"urn:li:organization:{org}"

    @property
    def token_env(self) -> str:
        return str(self.settings.get("token_env") or "token_env")

    def oauth_app(self) -> OAuthApp | None:
        """LinkedIn's 3-legged OAuth on www.linkedin.com: the client id and secret in the
        form, no PKCE (a web app); a refresh token only for apps LinkedIn gave them to."""
        client_id = str(self.settings.get("client_id") or "")
        if not client_id or not self.settings.get("client_secret_env"):
            return None
        return OAuthApp(
            service=f"linkedin ({self.settings.name})",
            authorize_url=f"{self.oauth_url}/oauth/v2/authorization",
            token_url=f"{self.oauth_url}/oauth/v2/accessToken",
            client_id=client_id,
            client_secret=self.settings.secret("client_secret_env"),
            scopes=tuple(self.settings.get("scopes") or SCOPES),
            client_auth="body",
            pkce=False,
        )

    def _token(self) -> str:
        try:
            return self.settings.secret("token_env")
        except ConfigError as exc:
            raise AuthError(f"linkedin: {exc}") from None

    def _client(self) -> HttpClient:
        token = self._token()
        client_secret = []
        if self.settings.get("client_secret_env"):
            with contextlib.suppress(ConfigError):
                client_secret.append(self.settings.secret("client_secret_env"))
        self._scrub = Scrubber([token, *client_secret])
        versions = {"LinkedIn-Version": self.version, "X-Restli-Protocol-Version": "2.0.0"}
        return bearer_client(self, token, secrets=client_secret, headers=versions)

    # -- the contract -----------------------------------------------------------------------

    def publish(self, post: OutgoingPost) -> Receipt:
        """Upload the image (if any), then create the post; a duplicate is looked up first."""
        author = self.author
        _check_image(post, self.alt_text_limit)
        http = self._client()
        body: dict[str, Any] = {
            "author": author,
            "commentary": escape_little(self._text(post)),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if post.image_path is not None:
            image = self._upload_image(http, author, Path(post.image_path))
            body["content"] = {"media": {"id": image, "altText": post.image_alt}}
        elif post.link:
            title = (post.title or "").strip() or _first_line(post.text)
            body["content"] = {"article": {"source": post.link, "title": title}}
        try:
            response = http.request("POST", "/rest/posts", json=body, classify=self._classify)
        except DuplicatePostError as duplicate:
            return already_there(self.find, post, duplicate)
        urn = response.headers.get("x-restli-id") or response.headers.get("x-linkedin-id")
        if not urn:
            found = self.find(post)
            if found is not None:
                return found
            raise TransientError(
                f"linkedin: HTTP {response.status_code} without the new post's id "
                "(x-restli-id header)",
                status=response.status_code,
                maybe_delivered=True,
            )
        return _receipt(id_value(urn, key="x-restli-id", what="linkedin"))

    def find(self, post: OutgoingPost) -> Receipt | None:
        """The page's recent post with this text, made no earlier than the post was due."""
        author = self.author
        path = (
            f"/rest/posts?author={quote(author, safe='')}&q=author"
            f"&count={self.find_count}&sortBy=LAST_MODIFIED"
        )
        data = self._client().json("GET", path, classify=self._classify)
        wanted = flat(self._text(post))
        due = since_due(post, self.find_slack)
        since = None if due is None else due.timestamp() * 1000
        for element in data.get("elements", []) if isinstance(data, dict) else []:
            if not isinstance(element, dict) or element.get("author") != author:
                continue
            created = element.get("createdAt") or element.get("publishedAt")
            if since is not None and isinstance(created, int | float) and created < since:
                continue
            commentary = element.get("commentary")
            if isinstance(commentary, str) and flat(unescape_little(commentary)) == wanted:
                urn = str(element.get("id") or "")
                if urn:
                    return _receipt(id_value(urn, key="x-restli-id", what="linkedin"))
        return None

    def metrics(self, receipt: Receipt) -> Figures:
        """Lifetime organic figures of one post (reach = unique impressions)."""
        urn = receipt.external_id
        kind = "ugcPosts" if urn.startswith("urn:li:ugcPost:") else "shares"
        path = (
            "/rest/organizationalEntityShareStatistics?q=organizationalEntity"
            f"&organizationalEntity={quote(self.author, safe='')}"
            f"&{kind}=List({quote(urn, safe='')})"
        )
        data = self._client().json("GET", path, classify=self._classify)
        elements = data.get("elements", []) if isinstance(data, dict) else []
        stats: dict[str, Any] = {}
        for element in elements:
            if isinstance(element, dict) and urn in (element.get("share"), element.get("ugcPost")):
                stats = element.get("totalShareStatistics") or {}
                break
        else:
            if len(elements) == 1 and isinstance(elements[0], dict):
                stats = elements[0].get("totalShareStatistics") or {}
        parts = [stats.get(k) for k in ("likeCount", "commentCount", "shareCount")]
        engagements = (
            sum(int(p) for p in parts if p is not None)
            if any(p is not None for p in parts)
            else None
        )
        figures = {
            "reach": _int(stats.get("uniqueImpressionsCount")),
            "impressions": _int(stats.get("impressionCount")),
            "clicks": _int(stats.get("clickCount")),
        }
        names = {
            figure: f"totalShareStatistics.{field}"
            for figure, field in (
                ("reach", "uniqueImpressionsCount"),
                ("impressions", "impressionCount"),
                ("clicks", "clickCount"),
            )
            if figures[figure] is not None
        }
        if engagements is not None:
            names["engagements"] = "totalShareStatistics.likeCount+commentCount+shareCount"
        raw = data if isinstance(data, dict) else {"value": data}
        return Figures(
            reach=figures["reach"],
            impressions=figures["impressions"],
            engagements=engagements,
            clicks=figures["clicks"],
            raw={**raw, "metric_names": names},
        )

    def check(self) -> CheckResult:
        """Introspection (when set up) says status, scopes and expiry; a read proves page access."""
        try:
            author = self.author
            http = self._client()
        except (AuthError, RejectedError) as exc:
            return CheckResult(False, str(exc))
        expires_at, notes = None, ""
        if self.settings.get("client_id") and self.settings.get("client_secret_env"):
            verdict = self._introspect()
            if not verdict.ok:
                return verdict
            expires_at, notes = verdict.expires_at, verdict.message
        else:
            notes = "; token expiry unknown (set client_id and client_secret_env)"
        try:
            http.json(
                "GET",
                f"/rest/posts?author={quote(author, safe='')}&q=author&count=1",
                classify=self._classify,
            )
        except (AuthError, RejectedError) as exc:
            return CheckResult(False, str(exc), expires_at)
        except RateLimitedError as exc:
            return CheckResult(False, f"{exc} (try again later)", expires_at)
        return CheckResult(
            True, f"reads posts of {author} (LinkedIn-Version {self.version}){notes}", expires_at
        )

    # -- steps ------------------------------------------------------------------------------

    def _text(self, post: OutgoingPost) -> str:
        """The commentary: the text, with the link added when an image takes the card's place."""
        text = post.text.strip()
        if post.image_path is not None and post.link and post.link not in text:
            text = f"{text}\n\n{post.link}"
        return text

    def _upload_image(self, http: HttpClient, author: str, path: Path) -> str:
        """initializeUpload, then PUT the bytes; nothing is posted yet, so nothing can double."""
        with uploading(path):
            data = http.json(
                "POST",
                "/rest/images?action=initializeUpload",
                json={"initializeUploadRequest": {"owner": author}},
                classify=self._classify,
            )
            value = data.get("value", {}) if isinstance(data, dict) else {}
            upload_url, image = value.get("uploadUrl"), value.get("image")
            if not upload_url or not image:
                raise TransientError("linkedin: initializeUpload answered without uploadUrl/image")
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            http.request(
                "PUT",
                str(upload_url),
                data=path.read_bytes(),
                headers={"Content-Type": content_type},
                classify=self._classify,
            )
        return str(image)

    def _introspect(self) -> CheckResult:
        """Ask LinkedIn's token introspection for status, expiry and scopes; the message of an
        ok result is a note to append to check()'s message."""
        try:
            secret = self.settings.secret("client_secret_env")
        except ConfigError as exc:
            return CheckResult(False, str(exc))
        token = self._token()
        http = HttpClient(
            self.oauth_url,
            service="linkedin introspection",
            auth_env=self.token_env,
            secrets=[token, secret],
            timeout=(min(5.0, self.timeout), self.timeout),
        )
        try:
            info = http.json(
                "POST",
                "/oauth/v2/introspectToken",
                data={
                    "client_id": str(self.settings.get("client_id")),
                    "client_secret": secret,
                    "token": token,
                },
            )
        except (AuthError, RejectedError) as exc:
            env = self.settings.get("client_secret_env")
            return CheckResult(False, f"{exc} (check client_id and ${env})")
        expires = info.get("expires_at") if isinstance(info, dict) else None
        expires_at = (
            datetime.fromtimestamp(expires, UTC) if isinstance(expires, int | float) else None
        )
        status = str(info.get("status") or ("active" if info.get("active") else "inactive"))
        if not info.get("active") or status != "active":
            return CheckResult(
                False,
                f"linkedin: the token is {status}; renew the token in ${self.token_env}",
                expires_at,
            )
        scopes = {s.strip() for s in str(info.get("scope", "")).replace(" ", ",").split(",")}
        missing = [s for s in ("w_organization_social",) if s not in scopes]
        if missing:
            return CheckResult(
                False,
                f"linkedin: the token lacks {', '.join(missing)}; renew the token in "
                f"${self.token_env} with that permission",
                expires_at,
            )
        extra = ""
        if "rw_organization_admin" not in scopes:
            extra = "; no rw_organization_admin, so no figures"
        when = f"; token expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
        return CheckResult(True, when + extra, expires_at)

    # -- errors -----------------------------------------------------------------------------

    def _classify(self, response: requests.Response) -> ChannelError | None:
        """LinkedIn's own signals; None leaves the rest to HttpClient's default mapping."""
        status = response.status_code
        reason = self._scrub(error_reason(response))
        try:
            body = response.json()
        except ValueError:
            body = {}
        codes = _input_error_codes(body)
        say = f"linkedin ({self.settings.name}): HTTP {status}: {reason}"
        if status == 422 and "DUPLICATE_POST" in codes:
            match = _URN.search(reason)
            return DuplicatePostError(say, urn=match.group() if match else None)
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                wait = _until_utc_midnight(self.clock())
            return RateLimitedError(say + " (daily limit; resets at 00:00 UTC)", retry_after=wait)
        if status == 401:
            return AuthError(
                say + f" (renew the token in ${self.token_env})",
                status=status,
                token=token_answer.linkedin(response),
            )
        if status == 403:
            return AuthError(
                say + " (the token needs w_organization_social and a page role of ADMINISTRATOR,"
                f" CONTENT_ADMIN or DIRECT_SPONSORED_CONTENT_POSTER; renew it in "
                f"${self.token_env})",
                status=status,
            )
        if status == 426 or (status == 400 and "version" in reason.lower()):
            return RejectedError(
                say + f" (LinkedIn-Version {self.version} is not active; set api_version)",
                status=status,
            )
        return None


def escape_little(text: str) -> str:
    """Text as LinkedIn's little format wants it: reserved characters escaped, except inside
    URLs and hashtags, which stay links and hashtags."""
    keep = list(url_spans(text))
    for match in _HASHTAG.finditer(text):
        if not any(s <= match.start() < e for s, e in keep):
            keep.append((match.start(), match.end()))
    keep.sort()
    out: list[str] = []
    pos = 0
    for start, end in keep:
        out.append(_escape_plain(text[pos:start]))
        out.append(text[start:end])
        pos = end
    out.append(_escape_plain(text[pos:]))
    return "".join(out)


def unescape_little(text: str) -> str:
    """The plain text of escaped little-format commentary (for comparing with our text)."""
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


def _escape_plain(text: str) -> str:
    return "".join("\\" + c if c in _RESERVED else c for c in text)


def _receipt(urn: str) -> Receipt:
    return Receipt(external_id=urn, url=POST_URL.format(urn=urn))


def _until_utc_midnight(now: datetime) -> float:
    """Seconds until LinkedIn's daily limits reset, at the next 00:00 UTC."""
    now = now.astimezone(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


def _input_error_codes(body: Any) -> set[str]:
    """The `code`s in LinkedIn's errorDetails.inputErrors (and a top-level `code`)."""
    codes: set[str] = set()
    if not isinstance(body, dict):
        return codes
    if isinstance(body.get("code"), str):
        codes.add(body["code"])
    details = body.get("errorDetails")
    errors = details.get("inputErrors") if isinstance(details, dict) else None
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, dict) and isinstance(item.get("code"), str):
            codes.add(item["code"])
    return codes


def _check_image(post: OutgoingPost, alt_limit: int) -> None:
    if post.image_path is None:
        return
    path, alt = checked_image(post, why=": LinkedIn posts need one")
    if len(alt) > alt_limit:
        raise RejectedError(
            f"alt text of {path} is {len(alt)} characters; LinkedIn takes {alt_limit}"
        )


def _first_line(text: str, limit: int = 200) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + "…"


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
