"""The `webhook` channel: a signed JSON POST for relays into Teams, Slack or an intranet.

The body is one JSON object: `id`, `idempotency_key`, `channel`, `campaign`, `audience`,
`title`, `text`, `link`, `image_url` (only when `image_base_url` is set, since the relay cannot
read our disk), `image_alt` and `scheduled_at` (ISO 8601, UTC). Headers:
- `X-Comms-Timestamp`: Unix seconds when sent;
- `X-Comms-Signature: sha256=<hex>`: HMAC-SHA256, with the secret from `$secret_env`, of
  `<timestamp>.<exact body bytes>` (as Slack signs), so the relay can tell the post came from
  us, was not changed, and is not an old request replayed (it rejects stale timestamps);
- `Idempotency-Key`: the post's key, for a relay that dedupes.
Any 2xx is success; the receipt's id is the relay's `id` from a JSON answer when it gives one,
else the idempotency key. Whether a resend is safe depends on the relay, which we cannot know,
so `idempotent` is False and `find()` cannot tell. A relay reports no figures: `has_metrics`
is False.

Failures go through the shared HTTP layer: 429 (or 503 with Retry-After) waits, 401/403 means
the relay refused the signature (renew `$secret_env` on both sides), other 4xx are rejected,
5xx/timeouts are transient (maybe delivered when the request was sent).

Options: `url`, `secret_env`, `image_base_url`, `timeout_seconds` (default 15).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

import requests

from comms.channels.answers import id_value, url_value
from comms.channels.base import Channel, CheckResult, OutgoingPost, PreviewCard, Receipt
from comms.channels.http import HttpClient
from comms.channels.options import Option
from comms.channels.scrub import redact_url, url_secrets
from comms.channels.settings import ChannelSettings
from comms.errors import ChannelError, ConfigError, MalformedAnswer, TransientError

SIGNATURE_HEADER = "X-Comms-Signature"
TIMESTAMP_HEADER = "X-Comms-Timestamp"


def sign(secret: str, body: bytes, timestamp: str) -> str:
    """The signature header's value: `sha256=` and the HMAC-SHA256 hex digest of the body."""
    message = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class WebhookChannel(Channel):
    """One signed JSON POST per post to a relay URL."""

    name = "webhook"
    idempotent = False  # only the relay knows whether it dedupes on Idempotency-Key
    has_metrics = False  # a relay reports no reach, views or clicks
    secret_urls = ("url",)  # a relay URL may carry a token (Slack, Teams): never shown whole

    label = "Webhook"
    title = "Webhook (Teams, Slack …)"
    preview = PreviewCard("webhook", "Webhook")
    post_words = ("besked", "beskeder")
    options = (
        Option("url", str, "the relay's address", required=True),
        Option(
            "secret_env", str, "variable holding the signing secret", required=True, secret=True
        ),
        Option("image_base_url", str, "public folder images are linked from", default=""),
        Option("timeout_seconds", float, "how long to wait for the relay", default=15),
    )

    def __init__(
        self, settings: ChannelSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(settings)
        self.url = str(settings.get("url", "") or "")
        self.secret_env = str(settings.get("secret_env", "") or "")
        base = str(settings.get("image_base_url", "") or "")
        self.image_base_url = base if not base or base.endswith("/") else base + "/"
        timeout = float(settings.get("timeout_seconds", 15))
        self.timeout = (min(5.0, timeout), timeout)
        self.clock = clock

    # -- the contract -----------------------------------------------------------------------

    def publish(self, post: OutgoingPost) -> Receipt:
        """POST the signed body; any 2xx means the relay took it."""
        secret = self.settings.secret("secret_env")
        body = self.body(post)
        timestamp = str(int(self.clock()))
        response = self._client(secret).request(
            "POST",
            self._target(),
            data=body,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                SIGNATURE_HEADER: sign(secret, body, timestamp),
                TIMESTAMP_HEADER: timestamp,
                "Idempotency-Key": post.idempotency_key,
            },
        )
        return receipt_of(_json_or_none(response), post.idempotency_key)

    def check(self) -> CheckResult:
        """The URL and secret are set and the relay answers at all (a GET; nothing is posted).

        The GET goes through the same client as a post, so its errors are scrubbed alike: the
        URL (which may carry a token) is shown as `https://host/…`."""
        client = self._client(self.settings.secret("secret_env"))
        where = redact_url(self.url)
        try:
            status = client.request("GET", self._target()).status_code
        except TransientError as exc:
            if exc.status is None:
                raise TransientError(f"webhook: cannot reach {where}: {exc}") from None
            status = exc.status
        except ChannelError as exc:  # a relay answers a GET with 4xx: it is there
            status = exc.status or 0
        return CheckResult(
            status < 500,
            f"{where} answers (HTTP {status} to a GET); posts are signed with ${self.secret_env}",
        )

    # -- helpers ----------------------------------------------------------------------------

    def body(self, post: OutgoingPost) -> bytes:
        """The exact bytes that are signed and sent (compact UTF-8 JSON, keys in this order)."""
        payload: dict[str, Any] = {
            "id": post.post_id,
            "idempotency_key": post.idempotency_key,
            "channel": post.channel,
            "campaign": post.campaign,
            "audience": post.audience,
            "title": post.title,
            "text": post.text,
            "link": post.link,
        }
        if post.image_path is not None and self.image_base_url:
            payload["image_url"] = self.image_base_url + post.image_path.name
        payload["image_alt"] = post.image_alt if post.image_path is not None else None
        payload["scheduled_at"] = (
            post.scheduled_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
            if post.scheduled_at
            else None
        )
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _target(self) -> str:
        if not self.url.startswith(("https://", "http://")):
            raise ConfigError(
                f"channel {self.settings.name!r} has no http(s) url",
                hint='set url = "https://relay.example.dk/hooks/comms"',
            )
        return self.url

    def _client(self, secret: str) -> HttpClient:
        # Slack- and Teams-style URLs carry a token in the path: keep it out of messages too
        parts = urlsplit(self.url)
        return HttpClient(
            f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}",
            service="webhook",
            auth_env=self.secret_env,
            secrets=[secret, *url_secrets(self.url)],
            timeout=self.timeout,
        )


def receipt_of(answer: Any, key: str) -> Receipt:
    """The relay's `id` and `url` when its answer has them in the right shape, else the key.

    Any 2xx means the relay took the post, so an odd answer never fails it: an id that is no id
    falls back to the idempotency key, a URL that is no http(s) URL is left out."""
    if not isinstance(answer, dict):
        return Receipt(external_id=key)
    try:
        remote_id = id_value(answer["id"]) if answer.get("id") not in (None, "") else key
    except MalformedAnswer:
        remote_id = key
    return Receipt(external_id=remote_id, url=url_value(answer.get("url")))


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json() if response.content else None
    except (ValueError, RecursionError):
        return None  # any 2xx is success; a relay may answer with plain text
