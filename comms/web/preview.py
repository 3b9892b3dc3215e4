"""A post as it will look on its channel: which card, its buttons, its text with links.

Each channel type has its own card: X, Bluesky and Mastodon are short posts with their own
buttons (never Facebook's), Facebook and LinkedIn have a link box, Instagram puts the image first,
the site and WordPress show an article, email a subject line, a webhook the bare text.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from comms.content.lint import find_urls


@dataclass(frozen=True)
class Card:
    """How one channel type shows a post."""

    kind: str  # the CSS card: card-<kind>
    name: str  # what the avatar line shows next to the channel's name
    buttons: tuple[str, ...] = ()
    image_first: bool = False
    link_box: bool = False
    handle: bool = False


CARDS = {
    "facebook": Card("facebook", "Facebook", ("Synes godt om", "Kommenter", "Del"), link_box=True),
    "linkedin": Card(
        "linkedin", "LinkedIn", ("Anbefal", "Kommenter", "Genopslå", "Send"), link_box=True
    ),
    "x": Card("x", "X", ("Svar", "Repost", "Like", "Bogmærke"), handle=True),
    "bluesky": Card("bluesky", "Bluesky", ("Svar", "Repost", "Like"), handle=True),
    "mastodon": Card("mastodon", "Mastodon", ("Svar", "Boost", "Favorit"), handle=True),
    "instagram": Card(
        "instagram", "Instagram", ("Synes godt om", "Kommenter", "Del"), image_first=True
    ),
    "site": Card("article", "Nyhed på sitet"),
    "wordpress": Card("article", "WordPress-indlæg"),
    "atom": Card("article", "Atom-feed"),
    "email": Card("email", "E-mail"),
    "webhook": Card("webhook", "Webhook"),
}
PLAIN = Card("webhook", "Kanal")


def card_for(channel_type: str) -> Card:
    return CARDS.get(channel_type, PLAIN)


def linkify(text: str) -> Markup:
    """The text escaped, its URLs as links (line breaks are kept by the card's CSS)."""
    pieces, rest = [], text
    for url in find_urls(text):
        before, found, after = rest.partition(url)
        if not found:
            continue
        pieces.append(escape(before))
        href = url if urlsplit(url).scheme in ("http", "https") else "https://" + url
        pieces.append(Markup('<a href="{0}" rel="noreferrer noopener">{1}</a>').format(href, url))
        rest = after
    pieces.append(escape(rest))
    return Markup("").join(pieces)


def domain_of(link: str | None) -> str | None:
    return urlsplit(link).hostname if link else None
