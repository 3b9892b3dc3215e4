"""The adapter contract every channel implements, and what a publish returns.

An adapter turns one post into one call to a service and says plainly how it went: it returns a
`Receipt`, or raises a `ChannelError` subclass (transient, rate-limited, auth, rejected) so the
queue can retry, wait, pause or give up without reading message strings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from comms.channels.options import Option
from comms.channels.settings import ChannelSettings
from comms.content.text import NO_RULE, TextRule

if TYPE_CHECKING:
    from comms.channels.oauth import Grant, OAuthApp, Pkce


@dataclass(frozen=True)
class OutgoingPost:
    """What an adapter needs to publish one post, detached from the database row."""

    post_id: int
    idempotency_key: str
    channel: str
    text: str
    title: str | None = None
    link: str | None = None
    image_path: Path | None = None
    image_alt: str | None = None
    campaign: str | None = None
    audience: str | None = None
    scheduled_at: datetime | None = None


@dataclass(frozen=True)
class Receipt:
    """Proof of publication: the service's id for the post and where people can see it."""

    external_id: str
    url: str | None = None


@dataclass(frozen=True)
class Figures:
    """A post's figures as the service reports them; None where the service has no such figure."""

    reach: int | None = None
    impressions: int | None = None
    engagements: int | None = None
    clicks: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of `comms channels check`: works or not, why, and when the token expires."""

    ok: bool
    message: str
    expires_at: datetime | None = None  # where the service tells (Facebook, LinkedIn)


@dataclass(frozen=True)
class PreviewCard:
    """How the workspace shows a post of a channel type before it goes out."""

    kind: str  # the card's look (CSS class card-<kind>)
    name: str  # what the avatar line shows next to the channel's name
    buttons: tuple[str, ...] = ()  # the service's own buttons under a post, in Danish
    image_first: bool = False
    link_box: bool = False  # the link shown as a box with its domain
    handle: bool = False  # an @handle under the name


class Channel(ABC):
    """Base of every adapter. Facts about the service are class attributes, read through the
    registry by the config (options), lint (text rule), reports and the docs test (labels)."""

    name: ClassVar[str]  # the config `type` and registry key
    idempotent: ClassVar[bool] = False  # re-sending with the same key can never duplicate
    has_metrics: ClassVar[bool] = False  # `metrics()` can read figures
    # how long the service keeps a post's figures (None: as long as the post): before that a
    # final snapshot is taken, so the report keeps figures the service has thrown away
    figures_kept: ClassVar[timedelta | None] = None
    max_concurrency: ClassVar[int] = 1  # calls in flight at once (config key overrides)
    rate_per_minute: ClassVar[float | None] = None  # calls a minute, None: no limit (config too)
    # every receipt carries the post's public address, so a later step can link to it
    # (`link_from`); a service that answers with an id only (e-mail, a relay) cannot be linked to
    receipt_has_url: ClassVar[bool] = False
    # how `comms channels connect` connects it: the service's OAuth flow in a browser, or an
    # app password traded once for a session that is then kept alive (Bluesky)
    connects_with: ClassVar[str] = "oauth"
    # options whose URL is itself a secret (a webhook's token in its path): never shown whole
    secret_urls: ClassVar[tuple[str, ...]] = ()

    # for people, in Danish: the short name reports and tables show ("Facebook", "Hjemmeside"),
    # the full name of the kind of channel ("Facebook-side", "X (Twitter)"), and what one and
    # several posts are called in a report's summary ("opslag på Facebook", "nyheder")
    label: ClassVar[str] = ""
    title: ClassVar[str] = ""
    post_words: ClassVar[tuple[str, str]] = ("opslag", "opslag")

    text_rule: ClassVar[TextRule] = NO_RULE  # how the service counts text and what it allows
    preview: ClassVar[PreviewCard] = PreviewCard("webhook", "Kanal")  # the workspace's card

    # the keys every [channels.NAME] table may have, whatever its type
    COMMON_OPTIONS: ClassVar[tuple[Option, ...]] = (
        Option("type", str, "the adapter type (site, facebook, …)", required=True),
        Option("organisation", str, "whose channel it is (kommune, politi, …): its approvers"),
        Option("max_concurrency", int, "calls in flight at once to this channel", default=1),
        Option("rate_per_minute", float, "calls a minute, spread evenly (default: no limit)"),
        Option("timeout_seconds", float, "how long to wait for the service's answer", default=30),
    )
    options: ClassVar[tuple[Option, ...]] = ()  # the keys of this type; may redefine a common one

    @classmethod
    def option_schema(cls) -> dict[str, Option]:
        """Every key a channel of this type takes: the common ones, then its own."""
        return {option.name: option for option in (*cls.COMMON_OPTIONS, *cls.options)}

    @classmethod
    def receipt_url_problem(cls, settings: ChannelSettings) -> str | None:
        """Why this channel's receipts have no public http(s) address to link to (None: they do)."""
        if cls.receipt_has_url:
            return None
        return f"{cls.label or cls.name} gives no public address for what it publishes"

    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings

    @abstractmethod
    def publish(self, post: OutgoingPost) -> Receipt:
        """Publish the post, or raise a ChannelError subclass saying why not."""

    def metrics(self, receipt: Receipt) -> Figures:
        """The post's current figures; adapters without any say so by returning empty Figures."""
        return Figures()

    def find(self, post: OutgoingPost) -> Receipt | None:
        """Look for an already-published copy of the post (reconciliation); None if absent."""
        return None

    def oauth_app(self) -> OAuthApp | None:
        """The service's OAuth 2.0 client for `comms channels connect` and refreshing; None
        where the channel type has none or the config names no client id."""
        return None

    def prepare_oauth(self, redirect_uri: str) -> OAuthApp | None:
        """The OAuth 2.0 client for connecting with `redirect_uri`: the configured one
        (`oauth_app`), or one the service registers on the spot (Mastodon's apps)."""
        return self.oauth_app()

    def finish_oauth(
        self, app: OAuthApp, *, code: str, redirect_uri: str, pkce: Pkce | None, now: datetime
    ) -> Grant:
        """The authorisation code for the credentials to store: by default the code grant at
        the token endpoint (Facebook and Instagram trade further, for a Page token)."""
        from comms.channels.oauth import exchange_code

        return exchange_code(app, code=code, redirect_uri=redirect_uri, pkce=pkce, now=now)

    def refresh_credentials(self, secrets: dict[str, Any], *, now: datetime) -> Grant:
        """New credentials for the stored `secrets` before they run out: by default the OAuth
        2.0 refresh grant at the service's token endpoint (adapters with another scheme, such
        as Bluesky's sessions, override it). Raises RefreshRefused when only a person can help."""
        from comms.channels.oauth import RefreshRefused, refresh

        app = self.oauth_app()
        refresh_token = str(secrets.get("refresh_token") or "")
        if app is None or not refresh_token:
            raise RefreshRefused(
                f"{self.settings.type} ({self.settings.name}): the stored token cannot be "
                "refreshed (no client id or no refresh token)"
            )
        return refresh(app, refresh_token, now=now)

    def check(self) -> CheckResult:
        """Verify credentials and permissions without posting.

        Return a CheckResult (ok, a one-line message, the token's expiry where the service says);
        raise ChannelError only when the service cannot be reached at all.
        """
        return CheckResult(True, "ok")
