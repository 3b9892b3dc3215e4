"""A post as it will look on its channel: which card, its buttons, its text with links.

Each channel type has its own card, declared on its adapter class (`Channel.preview`): X, Bluesky
and Mastodon are short posts with their own buttons (never Facebook's), Facebook and LinkedIn have
a link box, Instagram puts the image first, the site and WordPress show an article, email a
subject line, a webhook the bare text.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from markupsafe import Markup, escape

from comms.channels.base import PreviewCard
from comms.channels.registry import preview_card
from comms.content.lint import find_urls


def card_for(channel_type: str) -> PreviewCard:
    """The channel type's own card, declared on its adapter class."""
    return preview_card(channel_type)


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
