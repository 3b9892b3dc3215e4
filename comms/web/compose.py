"""Compose a one-off post: one text for the chosen channels (or a channel's own variant), an
image, the time; save as drafts or submit.

The form works without JavaScript: "Tjek teksten" sends it back to the server, which counts each
channel's text (its variant, else the common text) as the channel counts it and lints it exactly
as the planner does (comms.content.lint, with links UTM-tagged by the planner's rules).
compose.js only calls POST /compose/count, the same server code, while the person types. An
error comes back with the form filled in and each message beside the field it concerns; an
uploaded image that passed its checks is kept server-side under a token (comms.web.uploads), so
it need not be chosen again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import sqlalchemy as sa
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from comms.access import Action, PostFacts, decide
from comms.config import ChannelSettings, Settings
from comms.content.links import link_problem
from comms.content.lint import errors_of, text_length, text_limit, warnings_of
from comms.content.oneoff import channel_link, channel_text, lint_one_off
from comms.errors import QueueError
from comms.queue import transitions as queue
from comms.report.render import TYPE_NAMES
from comms.timeutil import local_to_utc
from comms.web.context import Ctx, Refused, page
from comms.web.uploads import MAX_BYTES, UploadRefused, adopt, keep_pending, pending_file
from comms.web.words import lint_message

MAX_TEXT = 70_000
VARIANT = "variant:"  # form field of a channel's own text: "variant:kommune-x"
# lint findings that concern the image or its alt text, not the text
LABELS = {
    "text": "Tekst",
    "link": "Link",
    "image": "Billede",
    "image_alt": "Alt-tekst",
    "time": "Hvornår",
    "channels": "Kanaler",
}
IMAGE_CODES = {
    "image-missing": "image",
    "alt-missing": "image_alt",
    "alt-is-file-name": "image_alt",
}


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
    variants: dict[str, str] = field(default_factory=dict)  # channel -> its own text (non-empty)
    image_token: str = ""  # a checked upload kept from an earlier round (comms.web.uploads)
    image_name: str = ""  # its original file name, shown only

    def text_of(self, channel: str) -> str:
        """The text written for `channel`: its variant, else the common text."""
        return self.variants.get(channel) or self.text


@dataclass(frozen=True)
class Check:
    """One channel's text as it will go out: its length as the channel counts it, its findings."""

    channel: str
    kind_name: str
    length: int
    limit: int | None
    problems: tuple[str, ...]
    variant: bool = False  # counted from the channel's own text, not the common one
    codes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # readability advice: shown, never stops the post

    @property
    def too_long(self) -> bool:
        return self.limit is not None and self.length > self.limit

    def as_json(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "length": self.length,
            "limit": self.limit,
            "too_long": self.too_long,
            "variant": self.variant,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
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
    variants = {}
    for name in offered:  # a variant of a channel not chosen is kept for the form, not posted
        text = ctx.field(VARIANT + name).replace("\r\n", "\n")[:MAX_TEXT]
        if text.strip():
            variants[name] = text
    return Values(
        title=ctx.field("title").strip()[:500],
        text=ctx.field("text").replace("\r\n", "\n")[:MAX_TEXT],
        link=ctx.field("link").strip()[:2000],
        image_alt=ctx.field("image_alt").strip()[:2000],
        when="time" if ctx.field("when") == "time" else "approval",
        date=ctx.field("date").strip()[:10],
        time=ctx.field("time").strip()[:5],
        channels=chosen,
        variants=variants,
        image_token=ctx.field("image_token").strip()[:100],
        image_name=ctx.field("image_name").strip()[:200],
    )


def text_for(settings: Settings, values: Values, channel: str) -> str:
    """The text that goes out on `channel`, its links to our own sites UTM-tagged."""
    return channel_text(settings, values.text_of(channel), channel)


def checks(ctx: Ctx, values: Values, image: str | None = None) -> list[Check]:
    """Each chosen channel's length and lint findings, linted as the planner lints its posts."""
    found = []
    for name in values.channels:
        kind = ctx.settings.channels[name].type
        text = text_for(ctx.settings, values, name)
        length, limit = text_length(text, kind), text_limit(kind)
        problems = lint_one_off(
            ctx.settings,
            name,
            text,
            title=values.title or None,
            image=image,
            alt=values.image_alt or None,
        )
        errors = errors_of(problems)
        found.append(
            Check(
                channel=name,
                kind_name=TYPE_NAMES.get(kind, kind),
                length=length,
                limit=limit,
                problems=tuple(
                    lint_message(p.code, p.message, length=length, limit=limit) for p in errors
                ),
                variant=name in values.variants,
                codes=tuple(p.code for p in errors),
                warnings=tuple(p.message for p in warnings_of(problems)),
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


Errors = dict[str, list[str]]  # form field ("text", "variant:NAME", "image_alt", …) -> messages


def problems(values: Values, found: list[Check], image: str | None) -> Errors:
    """What stops the post from being saved, in Danish, by the field each message concerns."""
    errors: Errors = {}

    def add(key: str, message: str) -> None:
        if message not in errors.setdefault(key, []):
            errors[key].append(message)

    if not values.channels:
        add("channels", "Vælg mindst én kanal.")
    if not values.text.strip() and any(c not in values.variants for c in values.channels):
        add("text", "Skriv en tekst.")
    if values.link and link_problem(values.link) is not None:
        add("link", "Linket skal være en webadresse, der begynder med https://.")
    if image and not values.image_alt:
        add("image_alt", "Skriv en alt-tekst til billedet: beskriv, hvad det viser.")
    for item in found:
        for code, message in zip(item.codes, item.problems, strict=True):
            if code in IMAGE_CODES:
                add(IMAGE_CODES[code], f"{item.channel}: {message}")
            elif item.variant:
                add(VARIANT + item.channel, message)
            else:
                add("text", f"{item.channel}: {message}")
    return errors


def _upload(ctx: Ctx) -> UploadFile | None:
    upload = ctx.form.get("image") if ctx.form is not None else None
    return upload if isinstance(upload, UploadFile) and upload.filename else None


def _image(ctx: Ctx, values: Values, errors: Errors) -> Path | None:
    """The form's image, checked and kept under a token; a new upload replaces a kept one."""
    user_id = int(ctx.user.id or 0)
    upload = _upload(ctx)
    if ctx.field("image_drop") == "1" and upload is None:
        values.image_token = values.image_name = ""
        return None
    if upload is None and not values.image_token:
        return None
    folder = _folder(ctx)
    if upload is not None:
        values.image_token = values.image_name = ""
        try:
            values.image_token = keep_pending(upload.file.read(MAX_BYTES + 1), folder, user_id)
        except UploadRefused as exc:
            errors.setdefault("image", []).append(str(exc))
            return None
        values.image_name = (upload.filename or "")[-200:].replace("\\", "/").rsplit("/", 1)[-1]
    if not values.image_token:
        return None
    kept = pending_file(values.image_token, folder, user_id)
    if kept is None:  # an old or foreign token: the person chooses the image again
        values.image_token = values.image_name = ""
        errors.setdefault("image", []).append("Billedet er ikke gemt længere; vælg det igen.")
    return kept


# --- the pages --------------------------------------------------------------------------------


def field_id(key: str, offered: dict[str, ChannelSettings] | list[str]) -> str:
    """The HTML id of a form field: a variant's by its channel's place, as names may be odd."""
    if key.startswith(VARIANT):
        return f"variant-{list(offered).index(key[len(VARIANT) :]) + 1}"
    return {"channels": "channels", "time": "when"}.get(key, key)


def _form(
    ctx: Ctx,
    offered: dict[str, ChannelSettings],
    values: Values,
    *,
    found: list[Check] | None = None,
    errors: Errors | None = None,
    status: int = 200,
) -> Response:
    order = ["", "text", *(VARIANT + name for name in offered), "link", "image", "image_alt"]
    order += ["time", "channels"]
    given = errors or {}
    errors = {key: given[key] for key in sorted(given, key=order.index)}
    return ctx.page(
        "compose.html",
        status,
        title="Nyt opslag",
        values=values,
        groups=_groups(offered),
        offered=list(offered),
        kinds={name: TYPE_NAMES.get(c.type, c.type) for name, c in offered.items()},
        checks={c.channel: c for c in found or []},
        errors=errors,
        ids={key: field_id(key, offered) for key in errors},
        variant_ids={name: field_id(VARIANT + name, offered) for name in offered},
        labels=LABELS,
        VARIANT=VARIANT,
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
    errors: Errors = {}
    kept = _image(ctx, values, errors)
    image = (values.image_name or kept.name) if kept else None  # lint sees the chosen name
    found = checks(ctx, values, image=image)
    if action not in ("draft", "submit"):
        return _form(ctx, offered, values, found=found, errors=errors)
    when, local_text = None, None
    try:
        when, local_text = scheduled(ctx, values)
    except Refused as exc:
        errors.setdefault("time", []).append(exc.message)
    for key, messages in problems(values, found, image).items():
        errors.setdefault(key, []).extend(m for m in messages if m not in errors.get(key, []))
    if errors:
        return _form(ctx, offered, values, found=found, errors=errors, status=400)
    image_path = str(adopt(kept, _folder(ctx))) if kept is not None else None
    try:
        ids = queue.compose(
            ctx.db,
            actor=ctx.user.username,
            channels=values.channels,
            text=values.text or values.text_of(values.channels[0]),
            variants={c: text_for(ctx.settings, values, c) for c in values.channels},
            title=values.title or None,
            links=_tagged_links(ctx, values),
            image_path=image_path,
            image_alt=values.image_alt or None,
            scheduled_at=when,
            local_time=local_text,
            submit=action == "submit",
        )
    except QueueError as exc:
        return _form(ctx, offered, values, found=found, errors={"": [str(exc)]}, status=400)
    ok = "composed-submitted" if action == "submit" else "composed"
    return RedirectResponse(f"/posts/{ids[0]}?ok={ok}", status_code=303)


def _folder(ctx: Ctx) -> Path:
    """[web] uploads_dir, else an `uploads` folder next to the SQLite database."""
    if ctx.settings.web.uploads_dir is not None:
        return ctx.settings.web.uploads_dir
    url = sa.engine.make_url(ctx.settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return Path(url.database).resolve().parent / "uploads"
    raise Refused(400, "Der er ingen mappe til billeder; sæt [web] uploads_dir i konfigurationen.")


def _tagged_links(ctx: Ctx, values: Values) -> dict[str, str] | None:
    """Each channel's link with its own UTM source, as a planned post's link is tagged."""
    if not values.link:
        return None
    return {c: channel_link(ctx.settings, values.link, c) for c in values.channels}


@page
def count(ctx: Ctx) -> Response:
    """POST /compose/count: each chosen channel's count and findings, for compose.js."""
    ctx.require(Action.COMPOSE)
    values = read_values(ctx, composable(ctx))
    return JSONResponse([item.as_json() for item in checks(ctx, values)])
