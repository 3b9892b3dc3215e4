"""A post as it will look on its channel: the card (from the registry) and the link box's domain.

Each channel type has its own card, declared on its adapter class (`Channel.preview`): X, Bluesky
and Mastodon are short posts with their own buttons (never Facebook's), Facebook and LinkedIn have
a link box, Instagram puts the image first, the site and WordPress show an article, email a
subject line, a webhook the bare text.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def domain_of(link: str | None) -> str | None:
    return urlsplit(link).hostname if link else None
