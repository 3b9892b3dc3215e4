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


def channel_table(name: str, type: str, **options: object) -> str:
    """A `[channels.NAME]` table of `type` with `options` (strings, numbers, lists), as TOML."""
    lines = [f"[channels.{name}]", f"type = {json.dumps(type)}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def stub_channel(folder: Path, name: str = "stub", **options: object) -> str:
    """A `[channels.NAME]` table of type stub delivering to `folder/NAME.jsonl`, as TOML."""
    return channel_table(name, "stub", path=str(folder / f"{name}.jsonl"), **options)


SITE_CHANNEL = '[channels.hjemmeside]\ntype = "site"\npath = "site"\n'


KARNEVAL_OPTAKT = "Karneval {{ event.date | dato }}: {{ link }}"
KARNEVAL_DAGEN = "I dag er det {{ event.date | ugedag }}!"


def karneval(
    *,
    optakt: list[str],
    dagen: list[str],
    time: str = "08:00",
    focus_area: str = "Et trygt natteliv",
    link: bool = True,
) -> str:
    """The Aalborg Karneval campaign as TOML (week 21's Saturday): step `optakt` a week before
    at 10.00 on those channels, `dagen` on the day at `time`; `link` gives it its link variable."""
    variables = '[variables]\nlink = "https://www.aalborg.dk/karneval"\n' if link else ""
    return f"""title = "Aalborg Karneval"
focus_area = "{focus_area}"
{variables}[event]
date = {{ type = "iso_week", week = 21, weekday = "lørdag" }}
[[steps]]
name = "optakt"
offset_days = -7
time = "10:00"
channels = {json.dumps(optakt)}
audience = "forældre"
template = "karneval/optakt"
[[steps]]
name = "dagen"
offset_days = 0
time = "{time}"
channels = {json.dumps(dagen)}
audience = "unge"
template = "karneval/dagen"
"""


def write_karneval(
    campaigns: Path,
    templates: Path,
    toml: str,
    *,
    optakt: str = KARNEVAL_OPTAKT,
    dagen: str = KARNEVAL_DAGEN,
) -> None:
    """The karneval campaign file in `campaigns` and its two templates in `templates`."""
    campaigns.mkdir(parents=True, exist_ok=True)
    (campaigns / "karneval.toml").write_text(toml, encoding="utf-8")
    folder = templates / "karneval"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "optakt.j2").write_text(optakt, encoding="utf-8")
    (folder / "dagen.j2").write_text(dagen, encoding="utf-8")
