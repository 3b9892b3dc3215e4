"""The `wordpress` channel: the website's news through the WordPress REST API (wp/v2).

A post becomes `POST /wp/v2/posts` (status `publish`, title, HTML content, a deterministic slug);
an image is uploaded first as raw bytes to `POST /wp/v2/media` (Content-Disposition names the
file), its alt text set with `POST /wp/v2/media/<id>`, and it becomes the post's
`featured_media`. Auth is an Application Password sent as HTTP Basic (`username` plus the
password read from `$password_env`).

WordPress has no idempotency key and accepts duplicates (the slug just gets a `-2`), so the slug
is derived from the post's idempotency key: `find()` looks it up with
`GET /wp/v2/posts?slug=…&status=any`, and `publish()` does the same lookup before it creates
anything, so a resend after a crash or an `unknown` cannot post twice. The image gets a
deterministic slug too, so a retry reuses an uploaded image instead of piling up copies.

Core WordPress counts no views or reach (that needs Jetpack Stats or an analytics tool), so
`has_metrics` is False and `metrics()` returns empty Figures.

Options: `base_url` (the REST root: `https://site/wp-json` or, without pretty permalinks,
`https://site/?rest_route=/`), `username`, `password_env`, `slug_prefix` (default "nyhed"),
`read_more` (default "Læs mere"), `categories` (list of term ids), `timeout_seconds`.

Verified against WordPress 6.1 source (Debian package) and a running instance
(tests/peers/test_wordpress_real.py); see docs/channels.md:
- errors are `{"code","message","data":{"status"}}`; `rest_cannot_create` and
  `rest_cannot_publish` use `rest_authorization_required_code()`: 401 when not logged in, 403
  when logged in without the capability;
- a wrong or missing password on `status=any` answers 400 `rest_invalid_param` with the detail
  `rest_forbidden_status` (data.status 401): treated as auth, not as rejected content;
- an upload WordPress will not take (file type) is 500 `rest_upload_sideload_error`: rejected,
  since retrying cannot help; other `rest_upload_*` codes are 400;
- Application Passwords need HTTPS unless WP_ENVIRONMENT_TYPE is `local`
  (`wp_is_application_passwords_supported`);
- an unknown `featured_media` id on create is ignored silently (the post is created without it),
  so the adapter checks the id the created post reports;
- `GET /wp/v2/users/me?context=edit` returns `capabilities` (publish_posts, upload_files).
Rate limits: core has none; a host or WAF's 429/503 with Retry-After goes through HttpClient.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import mimetypes
import re
from html import escape
from pathlib import Path
from typing import Any

import requests

from comms.channels.answers import count_field, url_field
from comms.channels.base import Channel, CheckResult, OutgoingPost, PreviewCard, Receipt
from comms.channels.http import HttpClient, error_reason
from comms.channels.images import SCREEN_READERS, checked_image
from comms.channels.options import Option
from comms.channels.settings import ChannelSettings
from comms.content.text import is_url, linkify
from comms.errors import (
    AuthError,
    ChannelError,
    ConfigError,
    MalformedAnswer,
    RejectedError,
    TransientError,
)

log = logging.getLogger(__name__)


class WordPressChannel(Channel):
    """News posts on a WordPress site; one post per publish, found again by its slug."""

    name = "wordpress"
    receipt_has_url = True
    idempotent = False  # a resend creates a second post; publish() looks the slug up first
    has_metrics = False  # core WordPress counts no views, reach or clicks

    label = "WordPress"
    title = "WordPress-nyheder"
    preview = PreviewCard("article", "WordPress-indlæg")
    post_words = ("nyhed", "nyheder")
    options = (
        Option("base_url", str, "the REST API's address (…/wp-json)", required=True),
        Option("username", str, "the user posting", required=True),
        Option(
            "password_env",
            str,
            "variable holding an Application Password",
            required=True,
            secret=True,
        ),
        Option("slug_prefix", str, "start of each post's slug", default="nyhed"),
        Option("read_more", str, "text of the link after the article", default="Læs mere"),
        Option("categories", list, "category ids given to every post", default=[], items=int),
    )
    needs = ("publish_posts", "upload_files")  # capabilities check() requires of the user
    # upload errors that no retry can fix, whatever status WordPress gives them
    rejected_codes = frozenset(
        {"rest_upload_sideload_error", "rest_upload_file_too_big", "rest_upload_limited_space"}
    )
    # codes that mean "who you are" rather than "what you sent"
    auth_codes = frozenset(
        {
            "rest_cannot_create",
            "rest_cannot_publish",
            "rest_forbidden_context",
            "rest_forbidden_status",
            "rest_not_logged_in",
            "incorrect_password",
            "invalid_username",
            "invalid_email",
            "application_passwords_disabled",
        }
    )

    def __init__(self, settings: ChannelSettings) -> None:
        super().__init__(settings)
        self.base_url = str(settings.get("base_url", "") or "")
        self.username = str(settings.get("username", "") or "")
        self.password_env = str(settings.get("password_env", "") or "")
        self.slug_prefix = str(settings.get("slug_prefix", "nyhed"))
        self.read_more = str(settings.get("read_more", "Læs mere"))
        self.categories = [int(c) for c in settings.get("categories", []) or []]
        timeout = float(settings.get("timeout_seconds", 30))
        self.timeout = (min(5.0, timeout), timeout)
        self._http: HttpClient | None = None

    # -- the contract -----------------------------------------------------------------------

    def publish(self, post: OutgoingPost) -> Receipt:
        """Create the news post (with its featured image), unless a lookup finds it already."""
        if post.image_path is not None:
            checked_image(post, why=SCREEN_READERS)
        existing = self.find(post)  # a crash or an `unknown` may have published it already
        if existing is not None:
            return existing
        body: dict[str, Any] = {
            "title": news_title(post),
            "content": news_html(post.text, post.link, read_more=self.read_more),
            "status": "publish",
            "slug": self.slug(post),
        }
        if self.categories:
            body["categories"] = self.categories
        media_id = None
        if post.image_path is not None:
            media_id = self._featured_image(post)
            body["featured_media"] = media_id
        created = self.http.json("POST", "/wp/v2/posts", json=body, classify=self._classify)
        receipt = _receipt(created)  # read first: a bad answer leaves the post unknown
        if media_id is not None and created.get("featured_media") != media_id:
            self._set_featured(int(receipt.external_id), media_id)
        return receipt

    def find(self, post: OutgoingPost) -> Receipt | None:
        """The post published earlier under this post's slug (any status but trash), if any."""
        try:
            found = self.http.json(
                "GET",
                "/wp/v2/posts",
                params={"slug": self.slug(post), "status": "any", "_fields": "id,link,slug,status"},
                classify=self._classify,
            )
        except TransientError as exc:  # a lookup publishes nothing
            raise TransientError(str(exc), status=exc.status, maybe_delivered=False) from None
        if isinstance(found, list) and found and isinstance(found[0], dict):
            return _receipt(found[0])
        return None

    def check(self) -> CheckResult:
        """Log in with the application password and see that the user may publish and upload."""
        try:
            me = self.http.json(
                "GET", "/wp/v2/users/me", params={"context": "edit"}, classify=self._classify
            )
        except (AuthError, RejectedError) as exc:
            return CheckResult(False, str(exc))
        caps = me.get("capabilities", {}) if isinstance(me, dict) else {}
        missing = [cap for cap in self.needs if not caps.get(cap)]
        who = f"{me.get('slug') or me.get('name') or self.username}"
        roles = ", ".join(me.get("roles") or []) or "no role"
        if missing:
            return CheckResult(
                False, f"logged in as {who} ({roles}) but missing capability: {', '.join(missing)}"
            )
        return CheckResult(True, f"logged in as {who} ({roles}); may publish posts and upload")

    # -- helpers ----------------------------------------------------------------------------

    def slug(self, post: OutgoingPost) -> str:
        """`nyhed-<16 hex of sha256(idempotency key)>`: the same post always gets the same slug."""
        digest = hashlib.sha256(post.idempotency_key.encode()).hexdigest()[:16]
        return f"{self.slug_prefix}-{digest}" if self.slug_prefix else digest

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            if not self.base_url:
                raise ConfigError(
                    f"channel {self.settings.name!r} has no base_url",
                    hint='set base_url = "https://www.example.dk/wp-json" (the REST root)',
                )
            if not self.username:
                raise ConfigError(
                    f"channel {self.settings.name!r} has no username",
                    hint="the WordPress user the application password belongs to",
                )
            password = self.settings.secret("password_env")
            basic = base64.b64encode(f"{self.username}:{password}".encode()).decode()
            self._http = HttpClient(
                self.base_url,
                service="wordpress",
                auth_env=self.password_env,
                secrets=[password, basic, password.replace(" ", "")],
                headers={"Authorization": f"Basic {basic}"},
                timeout=self.timeout,
            )
        return self._http

    def _featured_image(self, post: OutgoingPost) -> int:
        """Upload the image (or reuse one a failed attempt uploaded) and set its alt text.

        Nothing is published yet, so a failure here can never leave a post behind: transient
        errors are raised as not delivered, and the queue may simply retry.
        """
        path = Path(post.image_path or "")
        media_slug = f"{self.slug(post)}-billede"
        try:
            found = self.http.json(
                "GET",
                "/wp/v2/media",
                params={"slug": media_slug, "_fields": "id,alt_text"},
                classify=self._classify,
            )
            if isinstance(found, list) and found and isinstance(found[0], dict):
                media = found[0]
            else:
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                media = self.http.json(
                    "POST",
                    "/wp/v2/media",
                    data=path.read_bytes(),
                    headers={
                        "Content-Type": kind,
                        "Content-Disposition": f'attachment; filename="{media_slug}{path.suffix}"',
                    },
                    classify=self._classify,
                )
            if not isinstance(media, dict) or "id" not in media:
                raise TransientError("wordpress: the uploaded image has no id in the answer")
            media_id = int(media["id"])
            if media.get("alt_text") != post.image_alt:
                self.http.json(
                    "POST",
                    f"/wp/v2/media/{media_id}",
                    json={"alt_text": post.image_alt, "slug": media_slug},
                    classify=self._classify,
                )
        except TransientError as exc:
            raise TransientError(str(exc), status=exc.status, maybe_delivered=False) from None
        except OSError as exc:
            raise RejectedError(f"cannot read image {path}: {exc.strerror or exc}") from None
        return media_id

    def _set_featured(self, post_id: int, media_id: int) -> None:
        """Set the image once more where WordPress ignored it on create (it does so silently).

        The post is already public: a failure here is logged, never raised, since raising would
        make the queue treat a published post as failed.
        """
        try:
            self.http.json(
                "POST",
                f"/wp/v2/posts/{post_id}",
                json={"featured_media": media_id},
                classify=self._classify,
            )
        except ChannelError as exc:
            log.warning(
                "wordpress: post %s published without its image %s: %s", post_id, media_id, exc
            )

    def _classify(self, response: requests.Response) -> ChannelError | None:
        """WordPress's `{"code","message","data":{"status"}}` to an error class."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "code" not in body:
            return None  # a proxy's page, not WordPress: the default mapping
        code = str(body.get("code"))
        codes = {code, *_detail_codes(body)}
        status = response.status_code
        scrub = self.http.scrub
        text = scrub(f"wordpress: HTTP {status} {code}: {error_reason(response)}")
        if codes & self.auth_codes or status in (401, 403):
            return AuthError(
                f"{text} (check the user's role, or renew the application password "
                f"in ${self.password_env})",
                status=status,
            )
        if code in self.rejected_codes:
            return RejectedError(text, status=status)
        if status == 429 or status >= 500:
            return None  # rate limits and server trouble: the shared mapping
        return RejectedError(text, status=status)


def news_title(post: OutgoingPost) -> str:
    """The post's title, or its first line when it has none."""
    title = (post.title or "").strip()
    if title:
        return title
    line = next((ln.strip() for ln in post.text.splitlines() if ln.strip()), "Nyhed")
    return line if len(line) <= 80 else line[:80].rsplit(" ", 1)[0] + "…"


def news_html(text: str, link: str | None, *, read_more: str = "Læs mere") -> str:
    """Paragraphs (blank lines), line breaks, escaped text with its URLs as links; the link last."""
    parts = []
    for block in re.split(r"\n\s*\n", text.strip()):
        if block.strip():
            lines = [str(linkify(line.strip())) for line in block.strip().splitlines()]
            parts.append("<p>" + "<br>\n".join(lines) + "</p>")
    if link and link not in text and is_url(link):
        parts.append(f'<p>{escape(read_more)}: <a href="{escape(link)}">{escape(link)}</a></p>')
    return "\n".join(parts)


def _detail_codes(body: dict[str, Any]) -> list[str]:
    """Codes nested in `details` (rest_invalid_param wraps e.g. rest_forbidden_status)."""
    details = body.get("details") or (body.get("data") or {}).get("details") or {}
    if not isinstance(details, dict):
        return []
    return [str(d.get("code")) for d in details.values() if isinstance(d, dict) and d.get("code")]


def _receipt(post: Any) -> Receipt:
    """A WordPress post's numeric id and its public link (dropped when it is no http(s) URL)."""
    post_id = count_field(post, "id", what="wordpress")
    if post_id is None:
        raise MalformedAnswer("wordpress: the created post has no id in the answer")
    return Receipt(external_id=str(post_id), url=url_field(post, "link"))
