"""What a later import may change on a post an import added: its campaign and focus area.

A file imported again with `--campaign` / `--focus-area` (or the columns filled in) should put
the posts where they belong in the report, not leave them where the first import put them. Only
posts an import made are changed; a post comms published keeps its campaign's labels.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from comms.store.models import Post, table_of

_POSTS = table_of(Post)


def relabel_imported(
    session: Any, labels: list[tuple[int, str | None, str | None]], now: Any
) -> int:
    """Set (post id, campaign, focus area) where given (None: leave as it is); returns how many
    posts changed. One UPDATE per post, in the caller's transaction."""
    changed = 0
    for post_id, campaign, focus_area in labels:
        values: dict[str, Any] = {}
        conditions = []
        if campaign is not None:
            values["campaign"] = campaign
            conditions.append(_POSTS.c.campaign.is_distinct_from(campaign))
        if focus_area is not None:
            values["focus_area"] = focus_area
            conditions.append(_POSTS.c.focus_area.is_distinct_from(focus_area))
        if not values:
            continue
        result = session.execute(
            sa.update(_POSTS)
            .where(_POSTS.c.id == post_id, _POSTS.c.source == "import", sa.or_(*conditions))
            .values(**values, updated_at=now)
        )
        changed += result.rowcount or 0
    return changed
