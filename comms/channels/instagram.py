"""The `instagram` channel: image posts on an Instagram professional account (Content Publishing).

Instagram has no text or link posts: every post needs an image, so a post without one is
rejected. A link goes into the caption as plain text (Instagram does not make it clickable).
Publishing takes three calls:
1. `POST /{ig_user_id}/media` with `image_url`, `caption` and `alt_text` makes a container;
2. `GET /{container_id}?fields=status_code,status` is polled until `FINISHED` (`ERROR` rejects
   the post, with Instagram's subcode in `status`);
3. `POST /{ig_user_id}/media_publish` with `creation_id` publishes it.

Meta downloads the image itself with cURL, so `image_url` must be **public**. The adapter does
not upload anything: the option `media_base_url` says where the campaign images are published
(e.g. "https://www.aalborg.dk/tryg/media"); the image's local file name is appended to it
(`kampagne/jul.jpg` -> `https://www.aalborg.dk/tryg/media/jul.jpg`). Whoever runs comms must put
the images there first (for example by syncing the campaign's image folder to the web server).

No idempotency key exists, so the adapter is not `idempotent`. Only step 3 can make a post, so
a failure before it is never "maybe delivered" (an unpublished container just expires after
24 h). After an ambiguous failure of step 3 the container's status tells: `PUBLISHED` -> the
media is looked up by caption and returned. With `lookup_before_send` (default on) every publish
first looks for a media with the same caption made since the post was due.

Instagram counts at most `quota_total` API posts per rolling 24 h (50 in the reference; some
docs say 100, so the number is read from `GET /{ig_user_id}/content_publishing_limit`, which
`check()` reports). Hitting it is error 9 / subcode 2207042: rate-limited.

Figures from `GET /{media_id}/insights`, one metric per call (a metric that does not fit the
media type fails the whole request): reach `reach`, impressions `views` (replaced `impressions`
in 2025), engagements `total_interactions`. Instagram has no link clicks: clicks stay None.

Verified (search, docs): the container/publish flow and status codes, `alt_text` on image
containers (since 2025-03-24), the content_publishing_limit answer
`{"data":[{"quota_usage", "config":{"quota_total","quota_duration"}}]}`, public image URLs.
Unverified offline: what re-publishing an already published container answers, the full list of
container error subcodes, and how soon a new media appears in `/{ig_user_id}/media`.

Options: `ig_user_id` (required), `token_env` (required), `media_base_url` (required to post),
`app_token_env` (optional, for /debug_token), `base_url` (default
https://graph.facebook.com/v24.0; https://graph.instagram.com/v24.0 with Instagram Login),
`timeout_seconds` (30), `poll_seconds` (2), `poll_timeout_seconds` (60),
`lookup_before_send` (true), `lookup_hours` (48).
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import ClassVar
from urllib.parse import quote

from comms.channels.answers import id_field, url_field
from comms.channels.base import Channel, CheckResult, Figures, OutgoingPost, PreviewCard, Receipt
from comms.channels.graph import (
    GRAPH_OPTIONS,
    GraphApi,
    MetaLogin,
    graph_time,
    number,
    same_text,
)
from comms.channels.images import checked_image
from comms.channels.lookup import DUE_MARGIN, LOOKUP_OPTIONS, look_first, look_since
from comms.channels.options import ID, Option
from comms.channels.settings import ChannelSettings
from comms.content.text import TextRule
from comms.errors import AuthError, ChannelError, RejectedError, TransientError

_HASHTAG = re.compile(r"(?<!\w)#\w+")


class InstagramChannel(MetaLogin, Channel):
    """An Instagram professional account: image + caption + alt text, reach and views."""

    name = "instagram"
    receipt_has_url = True
    idempotent = False  # no idempotency key; only media_publish can post, and it is looked up
    has_metrics = True  # media insights: reach, views, total_interactions
    figures_kept = timedelta(days=730)  # "metrics data is stored for up to 2 years"

    label = "Instagram"
    title = "Instagram-konto"
    post_words = ("opslag på Instagram", "opslag på Instagram")
    MAX_CAPTION = 2_200  # caption characters [3p]
    MAX_HASHTAGS = 30  # hashtags per caption [3p]
    # and an Instagram post needs an image
    text_rule = TextRule(max_length=MAX_CAPTION, max_hashtags=MAX_HASHTAGS, image_required=True)
    preview = PreviewCard(
        "instagram", "Instagram", ("Synes godt om", "Kommenter", "Del"), image_first=True
    )
    options = (
        Option("ig_user_id", ID, "the professional account's id", required=True),
        Option("page_id", ID, "the linked Facebook Page, whose token connect stores"),
        Option(
            "media_base_url",
            str,
            "public folder Meta fetches the images from (the file name is appended)",
        ),
        Option("poll_seconds", float, "wait between looks at a container being made", default=2),
        Option("poll_timeout_seconds", float, "give up on a container after this", default=60),
        *GRAPH_OPTIONS,
        *LOOKUP_OPTIONS,
    )

    # Figures field -> media insights metrics, the current name first: `views` replaced
    # `impressions` (v22.0, all versions from 21 April 2025; older media still answer to it)
    METRICS: ClassVar[dict[str, str | tuple[str, ...]]] = {
        "reach": "reach",
        "impressions": ("views", "impressions"),
        "engagements": "total_interactions",
    }
    DUE_MARGIN = DUE_MARGIN  # clock skew when looking for media made since due time

    def __init__(self, settings: ChannelSettings) -> None:
        super().__init__(settings)
        self.api = GraphApi(settings, service=f"instagram ({settings.name})")
        self.poll_seconds = float(settings.get("poll_seconds", 2))
        self.poll_timeout = float(settings.get("poll_timeout_seconds", 60))

    @property
    def user_id(self) -> str:
        return self.api.required("ig_user_id")

    login_scopes: ClassVar[tuple[str, ...]] = (
        "instagram_basic",
        "instagram_content_publish",
        "instagram_manage_insights",
        "pages_show_list",
        "pages_read_engagement",
    )

    # -- the contract -----------------------------------------------------------------------

    def publish(self, post: OutgoingPost) -> Receipt:
        """Container, wait until it is ready, publish; look the media up where in doubt."""
        caption = self.caption(post)
        image_url = self.image_url(post)
        earlier = look_first(self.settings, self.find, post)
        if earlier is not None:
            return earlier
        try:
            container = self.api.post(
                f"/{self.user_id}/media",
                {
                    "image_url": image_url,
                    "caption": caption,
                    "alt_text": (post.image_alt or "").strip(),
                },
            )
            container_id = id_field(container, what=f"{self.api.service}: the container")
            self._wait_until_ready(container_id)
        except TransientError as exc:
            # nothing is visible before media_publish: a lost container just expires
            raise TransientError(str(exc), status=exc.status, maybe_delivered=False) from None
        try:
            media = self.api.post(f"/{self.user_id}/media_publish", {"creation_id": container_id})
        except TransientError as exc:
            if exc.maybe_delivered:
                return self._settle(post, container_id, exc)
            raise
        media_id = id_field(media, what=f"{self.api.service}: media_publish")
        return Receipt(external_id=media_id, url=self._permalink(media_id))

    def find(self, post: OutgoingPost) -> Receipt | None:
        """The account's media with this caption, made since the post was due; None if absent."""
        since = look_since(post, self.settings, self.DUE_MARGIN)
        body = self.api.get(
            f"/{self.user_id}/media",
            {"fields": "id,caption,timestamp,permalink", "limit": 50},
        )
        caption = self.caption(post)
        for item in body.get("data") or []:
            made = graph_time(item.get("timestamp"))
            if same_text(item.get("caption"), caption) and (made is None or made >= since):
                return Receipt(external_id=id_field(item), url=url_field(item, "permalink"))
        return None

    def metrics(self, receipt: Receipt) -> Figures:
        """Reach, views and interactions, one metric per call; a refused metric stays None."""
        values, raw, errors = self.api.insights(receipt.external_id, self.METRICS)
        if errors:
            raw["errors"] = errors
        return Figures(
            reach=values.get("reach"),
            impressions=values.get("impressions"),
            engagements=values.get("engagements"),
            clicks=None,  # Instagram has no link clicks on posts
            raw=raw,
        )

    def check(self) -> CheckResult:
        """The account is readable, the publishing quota has room, and when the token expires."""
        try:
            account = self.api.get(f"/{self.user_id}", {"fields": "id,username"})
            limit = self.api.get(
                f"/{self.user_id}/content_publishing_limit", {"fields": "quota_usage,config"}
            )
        except (AuthError, RejectedError) as exc:
            return CheckResult(False, str(exc))
        expires_at, token_note = None, ""
        try:
            info = self.api.token_info()
        except RejectedError:
            info = None  # graph.instagram.com has no /debug_token: expiry unknown
        if info is not None:
            if not info.valid:
                return CheckResult(False, info.message)
            expires_at, token_note = info.expires_at, f"; {info.message}"
        entry = (limit.get("data") or [{}])[0]
        used = number(entry.get("quota_usage")) or 0
        config = entry.get("config") or {}
        total = number(config.get("quota_total")) or 50
        hours = (number(config.get("quota_duration")) or 86_400) / 3600
        who = f"@{account.get('username') or account.get('id')}"
        quota = f"{used} of {total} API posts used in the last {hours:g} h"
        if not self.settings.get("media_base_url"):
            return CheckResult(
                False,
                f"{who}: {quota}; media_base_url is not set, so no image can be posted",
                expires_at,
            )
        return CheckResult(used < total, f"{who}: {quota}{token_note}", expires_at)

    # -- helpers ----------------------------------------------------------------------------

    def caption(self, post: OutgoingPost) -> str:
        """Text plus the link as plain text (not clickable on Instagram), within the limits."""
        text = post.text.strip()
        if post.link and post.link not in text:
            text = f"{text}\n\n{post.link}".strip()
        if len(text) > self.MAX_CAPTION:
            raise RejectedError(
                f"{self.api.service}: the caption has {len(text)} characters; "
                f"Instagram takes at most {self.MAX_CAPTION}"
            )
        tags = len(_HASHTAG.findall(text))
        if tags > self.MAX_HASHTAGS:
            raise RejectedError(
                f"{self.api.service}: the caption has {tags} hashtags; "
                f"Instagram takes at most {self.MAX_HASHTAGS}"
            )
        return text

    def image_url(self, post: OutgoingPost) -> str:
        """The public URL Meta fetches the image from: media_base_url + the file's name."""
        if post.image_path is None:
            raise RejectedError(
                f"{self.api.service}: Instagram needs an image; the post has none "
                "(add one, or leave Instagram out of the post's channels)"
            )
        path, _ = checked_image(post, why=": screen-reader users would get nothing from it")
        base = str(self.settings.get("media_base_url") or "")
        if not base.startswith(("https://", "http://")):
            raise RejectedError(
                f"channel {self.settings.name!r} has no media_base_url: Instagram fetches "
                f"images from a public address (add media_base_url = "
                f'"https://..." to [channels.{self.settings.name}])'
            )
        return f"{base.rstrip('/')}/{quote(path.name)}"

    def _wait_until_ready(self, container_id: str) -> None:
        deadline = time.monotonic() + self.poll_timeout
        while True:
            body = self.api.get(f"/{container_id}", {"fields": "status_code,status"})
            code = str(body.get("status_code") or "")
            if code in ("FINISHED", "PUBLISHED"):
                return
            if code == "ERROR":
                raise RejectedError(
                    f"{self.api.service}: Instagram could not process the image "
                    f"(container {container_id}: {body.get('status') or 'ERROR'})"
                )
            if code == "EXPIRED":
                raise TransientError(f"{self.api.service}: container {container_id} expired")
            if time.monotonic() >= deadline:
                raise TransientError(
                    f"{self.api.service}: container {container_id} still {code or 'unknown'} "
                    f"after {self.poll_timeout:g} s"
                )
            time.sleep(self.poll_seconds)

    def _settle(self, post: OutgoingPost, container_id: str, error: TransientError) -> Receipt:
        """After an ambiguous media_publish: the media if the container says it was published."""
        try:
            body = self.api.get(f"/{container_id}", {"fields": "status_code,status"})
            found = self.find(post) if body.get("status_code") == "PUBLISHED" else None
        except ChannelError:
            found = None
        if found is None:
            raise error
        return found

    def _permalink(self, media_id: str) -> str | None:
        """The post's web address; the post exists already, so a failure here is not one."""
        try:
            return self.api.get(f"/{media_id}", {"fields": "permalink"}).get("permalink")
        except ChannelError:
            return None
