"""Compose a one-off post: one text for the chosen channels, an image, the time; save or submit.

The form works without JavaScript: "Tjek teksten" sends it back to the server, which counts each
channel's text as the channel counts it and lints it exactly as the planner does
(comms.content.lint,
with links UTM-tagged by the planner's rules). compose.js only calls POST /compose/count, the
same server code, while the person types. An error comes back with the form filled in; an
uploaded image is decoded and saved again by comms.web.uploads, outside any public folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from comms.access import Action, PostFacts, decide
from comms.config import ChannelSettings, Settings
from comms.content.lint import add_utm, lint_post, tag_url, text_length, text_limit
from comms.errors import QueueError
from comms.queue import transitions as queue
from comms.report.render import TYPE_NAMES
from comms.store.models import Post
from comms.timeutil import local_to_utc
from comms.web.context import Ctx, Refused, page
from comms.web.uploads import MAX_BYTES, UploadRefused, save_image
from comms.web.words import lint_message

MAX_TEXT = 70_000
UTM_CAMPAIGN = "enkeltopslag"  # utm_campaign of a post that belongs to no campaign


def routes() -> list[Route]:
    return [
        Route("/compose", compose_form, methods=["GET"]),
        Route("/compose", compose_post, methods=["POST"]),
        Route("/compose/count", count, methods=["POST"]),
    ]


@dataclass
class Values:
    """What the form holds, kept whole so an error never loses what was written."""

    title: str = ""
    text: str = ""
    link: str = ""
    image_alt: str = ""
    when: str = "approval"  # "approval" or "time"
    date: str = ""
    time: str = ""
    channels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    """One channel's text as it will go out: its length as the channel counts it, its findings."""

    channel: str
    kind_name: str
    length: int
    limit: int | None
    problems: tuple[str, ...]

    @property
    def too_long(self) -> bool:
        return self.limit is not None and self.length > self.limit

    def as_json(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "length": self.length,
            "limit": self.limit,
            "too_long": self.too_long,
            "problems": list(self.problems),
        }


# --- who may write where ----------------------------------------------------------------------


def composable(ctx: Ctx) -> dict[str, ChannelSettings]:
    """The channels this user may compose for, asked of the access rules channel by channel."""
    return {
        name: channel
        for name, channel in sorted(ctx.settings.channels.items())
        if decide(ctx.actor, Action.COMPOSE, _facts(ctx, channel), four_eyes=ctx.four_eyes)
    }


def _facts(ctx: Ctx, channel: ChannelSettings) -> PostFacts:
    """A new post on `channel`, written by this user."""
    me = ctx.user.username
    return PostFacts(organisation=channel.organisation, author=me, last_editor=me, state="draft")


def _groups(offered: dict[str, ChannelSettings]) -> dict[str, list[str]]:
    """Channel names by organisation; the channels of no organisation ("") last."""
    groups: dict[str, list[str]] = {}
    for name, channel in offered.items():
        groups.setdefault(channel.organisation or "", []).append(name)
    return {org: groups[org] for org in sorted(groups, key=lambda org: (org == "", org))}


# --- reading and checking the form ------------------------------------------------------------


def read_values(ctx: Ctx, offered: dict[str, ChannelSettings]) -> Values:
    """The form as Values; a channel the user may not write for is refused outright (403)."""
    chosen: list[str] = []
    for value in ctx.form.getlist("channel") if ctx.form is not None else []:
        if not isinstance(value, str) or value in chosen:
            continue
        channel = ctx.settings.channels.get(value)
        if channel is None:
            raise Refused(400, f"Kanalen {value} findes ikke.")
        if value not in offered:
            raise Refused(403, decide(ctx.actor, Action.COMPOSE, _facts(ctx, channel)).reason)
        chosen.append(value)
    return Values(
        title=ctx.field("title").strip()[:500],
        text=ctx.field("text").replace("\r\n", "\n")[:MAX_TEXT],
        link=ctx.field("link").strip()[:2000],
        image_alt=ctx.field("image_alt").strip()[:2000],
        when="time" if ctx.field("when") == "time" else "approval",
        date=ctx.field("date").strip()[:10],
        time=ctx.field("time").strip()[:5],
        channels=chosen,
    )


def _utm(settings: Settings, channel: str) -> dict[str, Any]:
    """The planner's UTM values: the channel as source, the configured medium."""
    return {
        "domains": settings.utm.domains,
        "source": channel,
        "medium": settings.utm.medium,
        "campaign": UTM_CAMPAIGN,
    }


def text_for(settings: Settings, values: Values, channel: str) -> str:
    """The text that goes out on `channel`, its links to our own sites UTM-tagged."""
    return add_utm(values.text, **_utm(settings, channel))


def checks(ctx: Ctx, values: Values, image: str | None = None) -> list[Check]:
    """Each chosen channel's length and lint findings, linted as the planner lints its posts."""
    found = []
    for name in values.channels:
        kind = ctx.settings.channels[name].type
        text = text_for(ctx.settings, values, name)
        length, limit = text_length(text, kind), text_limit(kind)
        problems = lint_post(
            text=text,
            title=values.title or None,
            channel_type=kind,
            image=image,
            alt=values.image_alt or None,
            brand=ctx.settings.brand,
        )
        found.append(
            Check(
                channel=name,
                kind_name=TYPE_NAMES.get(kind, kind),
                length=length,
                limit=limit,
                problems=tuple(
                    lint_message(p.code, p.message, length=length, limit=limit) for p in problems
                ),
            )
        )
    return found


def scheduled(ctx: Ctx, values: Values) -> tuple[datetime | None, str | None]:
    """The UTC instant and local text of the chosen time, or (None, None) for "when approved"."""
    if values.when != "time":
        return None, None
    try:
        local_day, wall = date.fromisoformat(values.date), time.fromisoformat(values.time)
    except ValueError:
        raise Refused(400, "Skriv en dato som 2027-05-29 og et klokkeslæt som 09:30.") from None
    resolved = local_to_utc(local_day, wall, ctx.settings.zone)
    if resolved.utc < ctx.now:
        raise Refused(400, "Tiden er allerede passeret; vælg en senere tid.")
    return resolved.utc, f"{local_day.isoformat()} {wall.strftime('%H:%M')}"


def _problem(values: Values, found: list[Check], image: str | None) -> str | None:
    """The first thing that stops the post from being saved, in Danish."""
    if not values.channels:
        return "Vælg mindst én kanal."
    if not values.text.strip():
        return "Skriv en tekst."
    if values.link and not values.link.startswith(("https://", "http://")):
        return "Linket skal begynde med https://."
    if image and not values.image_alt:
        return "Skriv en alt-tekst til billedet: beskriv, hvad det viser."
    for item in found:
        if item.problems:
            return f"{item.channel}: {' '.join(item.problems)}"
    return None


def _upload(ctx: Ctx) -> UploadFile | None:
    upload = ctx.form.get("image") if ctx.form is not None else None
    return upload if isinstance(upload, UploadFile) and upload.filename else None


# --- the pages --------------------------------------------------------------------------------


def _form(
    ctx: Ctx,
    offered: dict[str, ChannelSettings],
    values: Values,
    *,
    found: list[Check] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return ctx.page(
        "compose.html",
        status,
        title="Nyt opslag",
        values=values,
        groups=_groups(offered),
        kinds={name: TYPE_NAMES.get(c.type, c.type) for name, c in offered.items()},
        checks=found or [],
        error=error,
    )


@page
def compose_form(ctx: Ctx) -> Response:
    """GET /compose: an empty form with the channels this user may write for."""
    ctx.require(Action.COMPOSE)
    return _form(ctx, composable(ctx), Values())


@page
def compose_post(ctx: Ctx) -> Response:
    """POST /compose: check the text ("Tjek teksten"), save it as drafts, or submit it."""
    ctx.require(Action.COMPOSE)
    offered = composable(ctx)
    values = read_values(ctx, offered)
    action = ctx.field("action")
    upload = _upload(ctx)
    found = checks(ctx, values, image=upload.filename if upload else None)
    if action not in ("draft", "submit"):
        return _form(ctx, offered, values, found=found)
    try:
        when, local_text = scheduled(ctx, values)
    except Refused as exc:
        return _form(ctx, offered, values, found=found, error=exc.message, status=400)
    error = _problem(values, found, upload.filename if upload else None)
    image_path = None
    if error is None and upload is not None:
        try:
            data = upload.file.read(MAX_BYTES + 1)
            image_path = str(save_image(data, ctx.settings.web.uploads_dir or _fallback(ctx)))
        except UploadRefused as exc:
            error = str(exc)
    if error is not None:
        return _form(ctx, offered, values, found=found, error=error, status=400)
    try:
        ids = queue.compose(
            ctx.db,
            actor=ctx.user.username,
            channels=values.channels,
            text=values.text,
            variants={c: text_for(ctx.settings, values, c) for c in values.channels},
            title=values.title or None,
            image_path=image_path,
            image_alt=values.image_alt or None,
            scheduled_at=when,
            local_time=local_text,
            submit=action == "submit",
        )
    except QueueError as exc:
        return _form(ctx, offered, values, found=found, error=str(exc), status=400)
    _tag_links(ctx, values, ids)
    ok = "composed-submitted" if action == "submit" else "composed"
    return RedirectResponse(f"/posts/{ids[0]}?ok={ok}", status_code=303)


def _fallback(ctx: Ctx) -> Path:
    """Without [web] uploads_dir: an `uploads` folder next to the SQLite database."""
    url = sa.engine.make_url(ctx.settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return Path(url.database).resolve().parent / "uploads"
    raise Refused(400, "Der er ingen mappe til billeder; sæt [web] uploads_dir i konfigurationen.")


def _tag_links(ctx: Ctx, values: Values, ids: list[int]) -> None:
    """Each new draft's link with its own channel as UTM source, as a planned post's link."""
    if not values.link:
        return
    for post_id, channel in zip(ids, values.channels, strict=True):
        link = tag_url(values.link, **_utm(ctx.settings, channel))
        ctx.db.execute(sa.update(Post).where(col(Post.id) == post_id).values(link=link))


@page
def count(ctx: Ctx) -> Response:
    """POST /compose/count: each chosen channel's count and findings, for compose.js."""
    ctx.require(Action.COMPOSE)
    values = read_values(ctx, composable(ctx))
    return JSONResponse([item.as_json() for item in checks(ctx, values)])
