"""Small builders for rows the tests need."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from comms.store.db import session_scope
from comms.store.models import Post, PostState, utcnow


def add_post(
    url: str,
    *,
    channel: str = "stub",
    state: str = PostState.QUEUED,
    due: datetime | None = None,
    campaign: str = "test",
    text: str = "Hej Aalborg",
    **fields,
) -> int:
    """Insert one post and return its id."""
    with session_scope(url) as session:
        post = Post(
            channel=channel,
            state=state,
            scheduled_at=due or utcnow() - timedelta(seconds=1),
            campaign=campaign,
            text=text,
            title=fields.pop("title", "Titel"),
            **fields,
        )
        session.add(post)
        session.flush()
        return int(post.id)


def get_post(url: str, post_id: int) -> Post:
    with session_scope(url) as session:
        post = session.get(Post, post_id)
        assert post is not None
        return post


def stub_channel(folder: Path, name: str = "stub", **options: object) -> str:
    """A `[channels.NAME]` table of type stub delivering to `folder/NAME.jsonl`, as TOML."""
    lines = [f"[channels.{name}]", 'type = "stub"', f'path = "{folder / f"{name}.jsonl"}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


SITE_CHANNEL = '[channels.hjemmeside]\ntype = "site"\npath = "site"\n'
