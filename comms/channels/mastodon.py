"""The `mastodon` channel: a status (toot) with its link, and an image with alt text.

API (docs.joinmastodon.org, checked against Mastodon's own source in this change):
- `POST /api/v1/statuses` with `status`, `visibility`, `language`, `media_ids[]` and the header
  `Idempotency-Key`. Mastodon's `PostStatusService` stores the key per account in Redis
  (`idempotency:status:<account>:<key>`, kept 3600 s) under a lock, and a repeat returns the
  status it already created. That is why `idempotent = True`: a re-send with the post's
  `idempotency_key` within **one hour** of the first attempt cannot duplicate. After an hour the
  key is forgotten; `find()` (a scan of the account's recent statuses for the same text) is the
  reconciliation for that case.
- `POST /api/v2/media` (multipart `file` + `description`, the alt text): 200 when processed,
  202 while processing; then `GET /api/v1/media/:id` answers 206 until it is ready. A status that
  names unprocessed media is refused with 422, so we poll (bounded by `media_timeout_seconds`).
- Figures: `GET /api/v1/statuses/:id` has `replies_count`, `reblogs_count`, `favourites_count`
  (and `quotes_count` from 4.5, UNCONFIRMED). Mastodon counts no views: reach, impressions and
  clicks stay None.
- Errors: `{"error": "..."}`. 401 token invalid (Mastodon tokens do not expire; a revoked one must
  be re-issued), 403 missing scope, 422 validation (too long, blank, media not ready), 429 with
  `X-RateLimit-Reset` as an ISO 8601 time (seen as e.g. `2020-09-08T13:25:00.019685Z` in a
  third-party capture of real headers; the format is not stated in the docs). All mapped by the
  shared `HttpClient`.
- Text limit: per instance (`GET /api/v2/instance` → `configuration.statuses.max_characters`,
  default 500); every URL counts `characters_reserved_per_url` (23). The server enforces it (422);
  `check()` reports the instance's limit.

Unverifiable offline: the exact 429 body and header set of a given instance, quote counts, and
the behaviour of instances that run forks (Glitch, Hometown) with other limits.
"""

from __future__ import annotations

import html
import mimetypes
import re
import time
from typing import Any

from comms.channels.answers import id_field, url_field
from comms.channels.base import Channel, CheckResult, Figures, OutgoingPost, PreviewCard, Receipt
from comms.channels.http import HttpClient, bearer_client
from comms.channels.images import checked_image
from comms.channels.lookup import flat
from comms.channels.oauth import OAuthApp
from comms.channels.options import Option
from comms.channels.scrub import remember_secrets
from comms.channels.settings import ChannelSettings
from comms.content.text import TextRule
from comms.errors import AuthError, ChannelError, MalformedAnswer, RejectedError, TransientError

APP_NAME = "comms"
SCOPES = ("read", "write")
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p>", re.IGNORECASE)


class MastodonChannel(Channel):
    """Posts statuses to one account on one Mastodon instance."""

    name = "mastodon"
    receipt_has_url = True
    idempotent = True  # Idempotency-Key header: the instance returns the same status for 1 hour
    has_metrics = True  # replies, reblogs, favourites; no reach or impressions exist

    label = "Mastodon"
    title = "Mastodon-konto"
    post_words = ("opslag på Mastodon", "opslag på Mastodon")
    # characters, every link with a scheme 23 (characters_reserved_per_url); a stock instance
    text_rule = TextRule(counting="mastodon", max_length=500, url_length=23)
    preview = PreviewCard("mastodon", "Mastodon", ("Svar", "Boost", "Favorit"), handle=True)
    options = (
        Option("base_url", str, "the account's instance", default="https://mastodon.social"),
        Option(
            "token_env",
            str,
            "variable holding the access token (not needed once connected)",
            secret=True,
        ),
        Option("visibility", str, "public, unlisted, private or direct", default="public"),
        Option("language", str, "the posts' language (ISO 639-1)", default="da"),
        Option("media_timeout_seconds", float, "how long an upload may be processed", default=60),
    )
    default_base_url = "https://mastodon.social"  # each account has its own instance: set base_url
    idempotency_window_seconds = 3600  # how long the instance remembers an Idempotency-Key
    max_description = 1500  # alt text limit of a stock instance (MediaAttachment validation)
    media_poll_seconds = 1.0  # wait between GET /api/v1/media/:id while it answers 206
    find_scan = 40  # recent statuses `find()` looks through (the API's page maximum)

    def __init__(self, settings: ChannelSettings) -> None:
        super().__init__(settings)
        self.base_url = str(settings.get("base_url") or self.default_base_url).rstrip("/")
        self.visibility = str(settings.get("visibility", "public"))
        self.language = settings.get("language", "da")
        self.timeout = float(settings.get("timeout_seconds", 30))
        self.media_timeout = float(settings.get("media_timeout_seconds", 60))
        self.token_env = str(settings.get("token_env") or "")
        self._account_id: str | None = None

    # -- the contract -----------------------------------------------------------------------

    def publish(self, post: OutgoingPost) -> Receipt:
        """Upload the image (if any), then create the status under the post's idempotency key."""
        http = self._client()
        form: dict[str, Any] = {"status": _status_text(post), "visibility": self.visibility}
        if self.language:
            form["language"] = str(self.language)
        if post.image_path is not None:
            form["media_ids[]"] = [self._upload(http, post)]
        status = http.json(
            "POST",
            "/api/v1/statuses",
            data=form,
            headers={"Idempotency-Key": post.idempotency_key},
        )
        return self._receipt(http, status)

    def metrics(self, receipt: Receipt) -> Figures:
        """Replies + reblogs (+ quotes) + favourites as engagements; Mastodon has no reach."""
        http = self._client()
        status = http.json("GET", f"/api/v1/statuses/{receipt.external_id}")
        counts = [status.get(k) for k in ("replies_count", "reblogs_count", "favourites_count")]
        counts.append(status.get("quotes_count"))  # Mastodon 4.5+, absent before
        known = [int(c) for c in counts if isinstance(c, int)]
        return Figures(engagements=sum(known) if known else None, raw=status)

    def find(self, post: OutgoingPost) -> Receipt | None:
        """A recent status of ours with the same text (for retries after the 1-hour key window)."""
        http = self._client()
        account = self._account(http)
        statuses = http.json(
            "GET",
            f"/api/v1/accounts/{account}/statuses",
            params={"limit": self.find_scan, "exclude_reblogs": "true"},
        )
        wanted = flat(_status_text(post))
        for status in statuses if isinstance(statuses, list) else []:
            if flat(plain_text(str(status.get("content") or ""))) == wanted:
                return self._receipt(http, status)
        return None

    def check(self) -> CheckResult:
        """The token works (verify_credentials); the instance's text limit. Tokens never expire."""
        try:
            http = self._client()
            account = http.json("GET", "/api/v1/accounts/verify_credentials")
        except AuthError as exc:
            return CheckResult(False, str(exc))
        except RejectedError as exc:
            return CheckResult(False, str(exc))
        self._account_id = str(account.get("id"))
        limit = ""
        try:
            instance = http.json("GET", "/api/v2/instance")
            statuses = instance.get("configuration", {}).get("statuses", {})
            limit = (
                f"; {statuses.get('max_characters', '?')} characters a status, "
                f"links count {statuses.get('characters_reserved_per_url', '?')}"
            )
        except ChannelError:
            pass  # the limit is a courtesy; the credentials are what check() is about
        return CheckResult(True, f"posts as @{account.get('acct')} on {self.base_url}{limit}")

    # -- connecting -------------------------------------------------------------------------

    def prepare_oauth(self, redirect_uri: str) -> OAuthApp:
        """Register comms as an app on the instance for this redirect (`POST /api/v1/apps`),
        then the instance's authorisation code flow (PKCE, Mastodon 4.3 and later). Its tokens
        do not expire and have no refresh token: a revoked one means connecting again."""
        http = HttpClient(
            self.base_url,
            service=f"mastodon ({self.settings.name})",
            timeout=(min(5.0, self.timeout), self.timeout),
        )
        app = http.json(
            "POST",
            "/api/v1/apps",
            data={
                "client_name": APP_NAME,
                "redirect_uris": redirect_uri,
                "scopes": " ".join(SCOPES),
            },
        )
        client_id = app.get("client_id") if isinstance(app, dict) else None
        client_secret = app.get("client_secret") if isinstance(app, dict) else None
        if not isinstance(client_id, str) or not isinstance(client_secret, str):
            raise MalformedAnswer(f"mastodon ({self.settings.name}): /api/v1/apps gave no client")
        remember_secrets([client_secret])
        return OAuthApp(
            service=f"mastodon ({self.settings.name})",
            authorize_url=f"{self.base_url}/oauth/authorize",
            token_url=f"{self.base_url}/oauth/token",
            client_id=client_id,
            client_secret=client_secret,
            scopes=SCOPES,
            client_auth="body",
        )

    # -- helpers ----------------------------------------------------------------------------

    def _client(self) -> HttpClient:
        token = self.settings.secret("token_env")
        return bearer_client(self, token, reset_headers=["X-RateLimit-Reset"])

    def _account(self, http: HttpClient) -> str:
        if self._account_id is None:
            account = http.json("GET", "/api/v1/accounts/verify_credentials")
            self._account_id = str(account["id"])
        return self._account_id

    def _receipt(self, http: HttpClient, status: Any) -> Receipt:
        what = f"{http.service}: the accepted status"
        return Receipt(
            external_id=id_field(status, what=what),
            url=url_field(status, "url", what=what) or url_field(status, "uri", what=what),
        )

    def _upload(self, http: HttpClient, post: OutgoingPost) -> str:
        """Upload the image with its alt text and wait until the instance has processed it."""
        path, alt = checked_image(post, why=" (description)", prefix="mastodon: ")
        if len(alt) > self.max_description:
            raise RejectedError(
                f"mastodon: alt text is {len(alt)} characters; the limit is {self.max_description}"
            )
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as handle:
            media = http.json(
                "POST",
                "/api/v2/media",
                files={"file": (path.name, handle, mime)},
                data={"description": alt},
            )
        media_id = id_field(media, what=f"{http.service}: media upload")
        if media.get("url"):
            return media_id  # 200: processed synchronously (images since Mastodon 4.0)
        deadline = time.monotonic() + self.media_timeout
        while True:
            response = http.request("GET", f"/api/v1/media/{media_id}")
            if response.status_code == 200:
                return media_id
            if time.monotonic() >= deadline:
                raise TransientError(
                    f"{http.service}: media {media_id} still processing after "
                    f"{self.media_timeout:g} s (nothing was posted)"
                )
            time.sleep(self.media_poll_seconds)


def _status_text(post: OutgoingPost) -> str:
    """The post's text, with its link appended when the text does not already contain it."""
    text = post.text.strip()
    if post.link and post.link not in text:
        text = f"{text}\n\n{post.link}" if text else post.link
    return text


def plain_text(content: str) -> str:
    """A status's HTML `content` as plain text (links keep their full URL)."""
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", content)))
