"""The `facebook` channel: posts on a Facebook Page through the Graph API.

Text with a link goes to `POST /{page_id}/feed` (`message`, `link`: Facebook scrapes the link
for its preview card); an image goes to `POST /{page_id}/photos` as a multipart `source` upload
with `caption` and `alt_text_custom` (the Photo reference's field for user-written alt text), so
no public image URL is needed. The receipt's id is the Page post id `{page_id}_{post_id}`
(`post_id` in the photo answer; the photo id when that key is missing), which insights use.

Graph has no idempotency key, so the adapter is not `idempotent`. Instead:
- after an ambiguous failure (timeout, reset, 5xx after sending) it looks the post up at once in
  `/{page_id}/published_posts` (same message, created since the post was due) and returns the
  receipt if it is there;
- with `lookup_before_send` (default on) every publish looks first, so a resend after a crash
  cannot post twice; a 506 "duplicate post" answer is also looked up before it is reported.

Figures come from `GET /{post_id}/insights`, one metric per call, because one deprecated metric
fails a whole request: reach `post_total_media_view_unique`, impressions `post_media_view` (both
replaced the `post_impressions*` family in 2025), clicks `post_clicks`; engagements are the
reactions (`post_reactions_by_type_total`) plus the post's comment and share counts. When Graph
says a name is not a metric (#100) the name it replaced is asked for instead; which name each
figure came from is in `Figures.raw["metric_names"]`. A metric Facebook refuses is left as None
with its error in `Figures.raw["errors"]`.

Verified (search, docs): feed/photos fields, `published_posts`, the error table (see graph.py),
`alt_text_custom` in the Photo reference field list, `/debug_token`'s expiry fields, BUC
throttling for Page tokens. Unverified offline: the `post_id` key of the photo answer, whether
`post_media_view`/`post_total_media_view_unique` survive the June 2026 deprecation round, and the
~63,206-character message limit (enforced here as `MAX_TEXT`).

Options: `page_id` (required), `token_env` (a Page access token; required), `app_token_env`
(optional app token for `/debug_token`), `base_url` (default https://graph.facebook.com/v24.0),
`timeout_seconds` (30), `lookup_before_send` (true), `lookup_hours` (48: how far back to look
when a post has no due time).
"""

from __future__ import annotations

import mimetypes
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from comms.channels.answers import id_field, url_field
from comms.channels.base import Channel, CheckResult, Figures, OutgoingPost, PreviewCard, Receipt
from comms.channels.graph import (
    GRAPH_OPTIONS,
    GraphApi,
    MetaLogin,
    graph_code,
    graph_time,
    number,
    same_text,
)
from comms.channels.images import alt_text, image_path
from comms.channels.lookup import DUE_MARGIN, LOOKUP_OPTIONS, found_or_raise, look_first, look_since
from comms.channels.options import ID, Option
from comms.channels.settings import ChannelSettings
from comms.content.text import TextRule
from comms.errors import AuthError, RejectedError, TransientError


class FacebookChannel(MetaLogin, Channel):
    """A Facebook Page: link posts, photos with alt text, insights, token expiry."""

    name = "facebook"
    receipt_has_url = True
    idempotent = False  # no idempotency key; duplicates are avoided by looking the post up
    has_metrics = True  # Page post insights (reach, views, clicks, reactions)
    figures_kept = timedelta(days=730)  # "only the last two years of insights data"

    label = "Facebook"
    title = "Facebook-side"
    post_words = ("opslag på Facebook", "opslag på Facebook")
    MAX_TEXT = 63_206  # message characters (UNCONFIRMED, widely quoted)
    text_rule = TextRule(max_length=MAX_TEXT)
    preview = PreviewCard(
        "facebook", "Facebook", ("Synes godt om", "Kommenter", "Del"), link_box=True
    )
    options = (
        Option("page_id", ID, "the Page's id", required=True),
        *GRAPH_OPTIONS,
        *LOOKUP_OPTIONS,
    )

    MAX_IMAGE_BYTES = 10 * 1024 * 1024  # the Photo reference's cap for static images
    DUPLICATE_CODE = 506  # "Duplicate Post: can't post duplicates consecutively"
    REQUIRED_SCOPES = ("pages_manage_posts", "pages_read_engagement")
    # Figures field -> insights metrics, the current name first, then what it replaced (Meta
    # deprecated post_impressions* for post_media_view / post_total_media_view_unique: the
    # unique ones by June 2025, the rest on 15 Nov 2025)
    METRICS: ClassVar[dict[str, str | tuple[str, ...]]] = {
        "reach": ("post_total_media_view_unique", "post_impressions_unique"),
        "impressions": ("post_media_view", "post_impressions"),
        "clicks": "post_clicks",
        "reactions": "post_reactions_by_type_total",
    }
    WEB_URL = "https://www.facebook.com"
    DUE_MARGIN = DUE_MARGIN  # clock skew when looking for posts made since due time

    def __init__(self, settings: ChannelSettings) -> None:
        super().__init__(settings)
        self.api = GraphApi(settings, service=f"facebook ({settings.name})")

    @property
    def page_id(self) -> str:
        return self.api.required("page_id")

    login_scopes: ClassVar[tuple[str, ...]] = (
        "pages_manage_posts",
        "pages_read_engagement",
        "pages_show_list",
        "read_insights",
    )

    # -- the contract -----------------------------------------------------------------------

    def publish(self, post: OutgoingPost) -> Receipt:
        """Post text+link to the feed, or the image with caption and alt text to photos."""
        message = self.message(post)
        if post.image_path is not None:
            _check_image(post, self.MAX_IMAGE_BYTES)
        earlier = look_first(self.settings, self.find, post)
        if earlier is not None:
            return earlier
        try:
            if post.image_path is None:
                body = self._post_text(post, message)
            else:
                body = self._post_photo(post, message)
        except TransientError as exc:
            if exc.maybe_delivered:
                return found_or_raise(self.find, post, exc)
            raise
        except RejectedError as exc:
            if graph_code(exc) == self.DUPLICATE_CODE:
                return found_or_raise(self.find, post, exc)
            raise
        key = "post_id" if body.get("post_id") else "id"
        return self._receipt(id_field(body, key, what=self.api.service))

    def find(self, post: OutgoingPost) -> Receipt | None:
        """The Page's post with this message, made since the post was due; None if absent."""
        since = look_since(post, self.settings, self.DUE_MARGIN)
        body = self.api.get(
            f"/{self.page_id}/published_posts",
            {
                "fields": "id,message,created_time,permalink_url",
                "since": int(since.timestamp()),
                "limit": 50,
            },
        )
        message = self.message(post)
        for item in body.get("data") or []:
            created = graph_time(item.get("created_time"))
            if same_text(item.get("message"), message) and (created is None or created >= since):
                return self._receipt(id_field(item, what=self.api.service), _permalink(item))
        return None

    def metrics(self, receipt: Receipt) -> Figures:
        """Insights one metric at a time, plus comment and share counts from the post."""
        values, raw, errors = self.api.insights(
            receipt.external_id, self.METRICS, period="lifetime"
        )
        try:
            counts = self.api.get(
                f"/{receipt.external_id}",
                {"fields": "shares,comments.limit(0).summary(true)"},
            )
            raw["post"] = counts
        except RejectedError as exc:
            errors["post"] = str(exc)
            counts = {}
        comments = number(((counts.get("comments") or {}).get("summary") or {}).get("total_count"))
        shares = number((counts.get("shares") or {}).get("count"))
        parts = [values.get("reactions"), comments, shares]
        if errors:
            raw["errors"] = errors
        return Figures(
            reach=values.get("reach"),
            impressions=values.get("impressions"),
            engagements=None if all(p is None for p in parts) else sum(p or 0 for p in parts),
            clicks=values.get("clicks"),
            raw=raw,
        )

    def check(self) -> CheckResult:
        """Token valid with the posting permissions, its expiry, and the Page readable."""
        try:
            info = self.api.token_info()
            if not info.valid:
                return CheckResult(False, info.message)
            page = self.api.get(f"/{self.page_id}", {"fields": "id,name"})
        except (AuthError, RejectedError) as exc:
            return CheckResult(False, str(exc))
        missing = [s for s in self.REQUIRED_SCOPES if info.scopes and s not in info.scopes]
        where = f"page {page.get('name') or page.get('id')}"
        if missing:
            return CheckResult(
                False,
                f"{where}: the token lacks {', '.join(missing)} "
                f"(grant it, then renew the token in ${self.api.token_env})",
                info.expires_at,
            )
        return CheckResult(True, f"{where}; {info.message}", info.expires_at)

    # -- helpers ----------------------------------------------------------------------------

    def message(self, post: OutgoingPost) -> str:
        """The text Facebook gets: a photo has no link field, so its link joins the caption."""
        text = post.text.strip()
        if post.image_path is not None and post.link and post.link not in text:
            text = f"{text}\n\n{post.link}".strip()
        if not text and not post.link:
            raise RejectedError(f"{self.api.service}: the post has neither text nor a link")
        if len(text) > self.MAX_TEXT:
            raise RejectedError(
                f"{self.api.service}: the text has {len(text)} characters; "
                f"a Page post takes at most {self.MAX_TEXT}"
            )
        return text

    def _post_text(self, post: OutgoingPost, message: str) -> dict[str, Any]:
        data = {"message": message} if message else {}
        if post.link:
            data["link"] = post.link
        return self.api.post(f"/{self.page_id}/feed", data)

    def _post_photo(self, post: OutgoingPost, message: str) -> dict[str, Any]:
        path = Path(post.image_path or "")
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = {"caption": message, "alt_text_custom": (post.image_alt or "").strip()}
        with path.open("rb") as handle:
            files = {"source": (path.name, handle, kind)}
            return self.api.post(f"/{self.page_id}/photos", data, files=files)

    def _receipt(self, post_id: str, url: str | None = None) -> Receipt:
        """The post's id and its page: the permalink Graph gave, else one made from the id."""
        if url is None:
            page, _, story = post_id.partition("_")
            url = f"{self.WEB_URL}/{page}/posts/{story}" if story else f"{self.WEB_URL}/{page}"
        return Receipt(external_id=post_id, url=url)


def _permalink(item: Any) -> str | None:
    return url_field(item, "permalink_url")


def _check_image(post: OutgoingPost, limit: int) -> None:
    path = image_path(post)
    if path.stat().st_size > limit:
        raise RejectedError(
            f"image {path} is {path.stat().st_size} bytes; Facebook takes at most {limit}"
        )
    alt_text(post, path, why=": screen-reader users would get nothing from it")
