"""A one-off post's text per channel, tagged and linted exactly as the planner treats its posts.

The workspace's compose form and `comms post` both go through here, so a post written in the
browser and one written on the command line get the same UTM tags and the same findings.
"""

from __future__ import annotations

from typing import Any

from comms.config import Settings
from comms.content.lint import LintProblem, add_utm, lint_post, tag_url

UTM_CAMPAIGN = "enkeltopslag"  # utm_campaign of a post that belongs to no campaign


def utm_values(settings: Settings, channel: str) -> dict[str, Any]:
    """The planner's UTM values: the channel as source, the configured medium."""
    return {
        "domains": settings.utm.domains,
        "source": channel,
        "medium": settings.utm.medium,
        "campaign": UTM_CAMPAIGN,
    }


def channel_text(settings: Settings, text: str, channel: str) -> str:
    """The text as it goes out on `channel`, its links to our own sites UTM-tagged."""
    return add_utm(text, **utm_values(settings, channel))


def channel_link(settings: Settings, link: str, channel: str) -> str:
    """The post's link tagged for `channel`, as a planned post's link is tagged."""
    return tag_url(link, **utm_values(settings, channel))


def lint_one_off(
    settings: Settings,
    channel: str,
    text: str,
    *,
    title: str | None,
    image: str | None,
    alt: str | None,
) -> list[LintProblem]:
    """The planner's lint of `text` (already tagged) on the configured `channel`."""
    return lint_post(
        text=text,
        title=title,
        channel_type=settings.channels[channel].type,
        image=image,
        alt=alt,
        brand=settings.brand,
        readability=settings.readability,
    )
