"""Compose a one-off post: the text once, a variant per channel, an image, the time; save or submit.

The form works without JavaScript: "Tjek tekst" sends it back to the server, which counts each
channel's text as the channel counts it and lints it exactly as the planner does (comms.lint,
with links tagged by comms.lint's UTM rules). compose.js only calls POST /compose/count, the
same server code, while the person types. An error shows next to its field and the form comes
back filled; an uploaded image is decoded and re-saved with Pillow before it is kept, in the
configured uploads folder, served back to signed-in users only.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import sqlalchemy as sa
from PIL import Image, ImageOps, UnidentifiedImageError
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from comms import queue
from comms.access import Action, PostFacts, decide
from comms.config import ChannelSettings, Settings
from comms.danish import format_number
from comms.errors import QueueError
from comms.lint import LintProblem, add_utm, lint_post, tag_url, text_length, text_limit
from comms.models import Post
from comms.report_render import TYPE_NAMES
from comms.timeutil import local_to_utc
from comms.web.context import Ctx, Refused, page

MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000  # larger images are refused before they are decoded (decompression bombs)
MAX_TEXT = 70_000
# what Pillow found -> how the clean copy is saved (a GIF's first frame becomes a PNG)
SAVE_AS = {"PNG": ("PNG", ".png"), "JPEG": ("JPEG", ".jpg"), "WEBP": ("WEBP", ".webp")}
SAVE_AS["GIF"] = ("PNG", ".png")
UPLOAD_NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpg|webp)$")
UTM_CAMPAIGN = "enkeltopslag"  # utm_campaign of a post that belongs to no campaign
NO_ORGANISATION = "Fælles kanaler"


def routes() -> list[Route]:
    return [
        Route("/compose", compose_form, methods=["GET"]),
        Route("/compose", compose_post, methods=["POST"]),
        Route("/compose/count", count, methods=["POST"]),
        Route("/stories/{story:str}", story, methods=["GET"]),
        Route("/uploads/{name:str}", uploaded, methods=["GET"]),
    ]


@dataclass
class Draft:
    """What the form holds: kept whole, so an error never loses what was written."""

    title: str = ""
    text: str = ""
    channels: list[str] = field(default_factory=list)
    variants: dict[str, str] = field(default_factory=dict)
    link: str = ""
    image: str = ""  # the clean upload's file name in the uploads folder
    image_alt: str = ""
    when: str = "approval"  # "approval" or "time"
    day: str = ""
    clock: str = ""


@dataclass(frozen=True)
class Count:
    """One channel's text as it will go out: its length as the channel counts it, its findings."""

    channel: str
    kind: str
    kind_name: str
    length: int
    limit: int | None
    problems: tuple[str, ...]

    @property
    def over(self) -> bool:
        return self.limit is not None and self.length > self.limit

    @property
    def summary(self) -> str:
        if self.limit is None:
            return f"{format_number(self.length)} tegn"
        return f"{format_number(self.length)} af {format_number(self.limit)} tegn"

    def as_json(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "type": self.kind,
            "length": self.length,
            "limit": self.limit,
            "over": self.over,
            "summary": self.summary,
            "problems": list(self.problems),
        }


# --- who may write where ----------------------------------------------------------------------


def composable(ctx: Ctx) -> dict[str, ChannelSettings]:
    """The channels this user may compose for (asked of the access rules, channel by channel)."""
    return {
        name: channel
        for name, channel in sorted(ctx.settings.channels.items())
        if decide(ctx.actor, Action.COMPOSE, _facts(ctx, channel), four_eyes=ctx.four_eyes)
    }


def _facts(ctx: Ctx, channel: ChannelSettings) -> PostFacts:
    """A new post on `channel`, written by this user."""
    me = ctx.user.username
    return PostFacts(organisation=channel.organisation, author=me, last_editor=me, state="draft")


def grouped(channels: dict[str, ChannelSettings]) -> list[tuple[str, list[ChannelSettings]]]:
    """Channels by organisation (those of none last), for the form's fieldsets."""
    groups: dict[str, list[ChannelSettings]] = {}
    for channel in channels.values():
        groups.setdefault(channel.organisation or "", []).append(channel)
    order = sorted(groups, key=lambda org: (org == "", org))
    return [(org or NO_ORGANISATION, groups[org]) for org in order]


# --- reading and checking the form ------------------------------------------------------------


def read_draft(ctx: Ctx, offered: dict[str, ChannelSettings]) -> Draft:
    """The form as a Draft; a channel the user may not write for is refused outright (403)."""
    form = ctx.form
    chosen: list[str] = []
    for value in form.getlist("channel") if form is not None else []:
        if not isinstance(value, str) or value in chosen:
            continue
        channel = ctx.settings.channels.get(value)
        if channel is None:
            raise Refused(400, f"Kanalen {value} findes ikke.")
        if value not in offered:
            raise Refused(403, decide(ctx.actor, Action.COMPOSE, _facts(ctx, channel)).reason)
        chosen.append(value)
    variants = {}
    for name in offered:
        variant = _clean(ctx.field(f"variant-{name}"))
        if variant.strip():
            variants[name] = variant
    image = ctx.field("image_name").strip()
    return Draft(
        title=ctx.field("title").strip()[:500],
        text=_clean(ctx.field("text")),
        channels=chosen,
        variants=variants,
        link=ctx.field("link").strip()[:2000],
        image=image if UPLOAD_NAME.match(image) and uploads_dir(ctx.settings, image) else "",
        image_alt=ctx.field("image_alt").strip()[:1000],
        when="time" if ctx.field("when") == "time" else "approval",
        day=ctx.field("date").strip()[:10],
        clock=ctx.field("time").strip()[:5],
    )


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n")[:MAX_TEXT]


def text_for(settings: Settings, draft: Draft, channel: str) -> str:
    """The text that goes out on `channel`: its variant or the shared text, links UTM-tagged."""
    text = draft.variants.get(channel) or draft.text
    return add_utm(text, **_utm(settings, channel))


def link_for(settings: Settings, draft: Draft, channel: str) -> str | None:
    return tag_url(draft.link, **_utm(settings, channel)) if draft.link else None


def _utm(settings: Settings, channel: str) -> dict[str, object]:
    """The planner's UTM values: source the channel, the configured medium."""
    return {
        "domains": settings.utm.domains,
        "source": channel,
        "medium": settings.utm.medium,
        "campaign": UTM_CAMPAIGN,
    }


def counts(ctx: Ctx, draft: Draft) -> list[Count]:
    """Each chosen channel's length and lint findings, as the planner lints its posts."""
    found = []
    for name in draft.channels:
        kind = ctx.settings.channels[name].type
        text = text_for(ctx.settings, draft, name)
        problems = lint_post(
            text=text,
            title=draft.title or None,
            channel_type=kind,
            image=image_path(ctx.settings, draft.image) if draft.image else None,
            alt=draft.image_alt or None,
            brand=ctx.settings.brand,
        )
        found.append(
            Count(
                channel=name,
                kind=kind,
                kind_name=TYPE_NAMES.get(kind, kind),
                length=text_length(text, kind),
                limit=text_limit(kind),
                problems=tuple(danish(p, kind) for p in problems),
            )
        )
    return found


_BRAND = re.compile(r'write "(?P<right>.+)", not "(?P<wrong>.+)" \(found in the (?P<where>.+)\)$')
_WHERE = {"text": "teksten", "title": "titlen"}


def danish(problem: LintProblem, kind: str) -> str:
    """A lint finding in Danish (the finding's own text when it has no Danish form here)."""
    label = TYPE_NAMES.get(kind, kind)
    if problem.code == "text-too-long":
        return f"Teksten er for lang til {label}; forkort den."
    if problem.code == "text-too-many-bytes":
        return f"Teksten fylder for mange bytes til {label}; forkort den."
    if problem.code == "too-many-hashtags":
        return f"For mange hashtags til {label}; fjern nogle."
    if problem.code == "image-missing":
        return f"{label} kræver et billede (med alt-tekst)."
    if problem.code == "alt-missing":
        return "Billedet mangler en alt-tekst: beskriv, hvad billedet viser."
    if problem.code == "alt-is-file-name":
        return "Alt-teksten gentager kun filnavnet: beskriv, hvad billedet viser."
    found = _BRAND.match(problem.message) if problem.code == "brand-spelling" else None
    if found:
        where = " og ".join(_WHERE.get(w, w) for w in found["where"].split(" and "))
        return f"Skriv »{found['right']}«, ikke »{found['wrong']}« (i {where})."
    return problem.message


def field_errors(ctx: Ctx, draft: Draft, found: list[Count]) -> dict[str, str]:
    """What stops the draft from being saved, by form field (Danish, shown next to it)."""
    errors: dict[str, str] = {}
    if not draft.channels:
        errors["channels"] = "Vælg mindst én kanal."
    if not draft.text.strip() and not all(draft.variants.get(c) for c in draft.channels):
        errors["text"] = "Skriv teksten (eller en egen tekst til hver valgt kanal)."
    if draft.link and not draft.link.startswith(("https://", "http://")):
        errors["link"] = "Linket skal begynde med https://."
    if draft.image and not draft.image_alt:
        errors["image_alt"] = "Skriv en alt-tekst: beskriv, hvad billedet viser."
    if draft.when == "time":
        problem = _time_problem(ctx, draft)
        if problem:
            errors["when"] = problem
    for item in found:
        if item.problems:
            errors[f"channel-{item.channel}"] = " ".join(item.problems)
    return errors


def scheduled(ctx: Ctx, draft: Draft) -> tuple[datetime | None, str | None]:
    """The UTC instant and local text of the chosen time, or (None, None) for "when approved"."""
    if draft.when != "time":
        return None, None
    local_day, wall = date.fromisoformat(draft.day), time.fromisoformat(draft.clock)
    resolved = local_to_utc(local_day, wall, ctx.settings.zone)
    return resolved.utc, f"{local_day.isoformat()} {wall.strftime('%H:%M')}"


def _time_problem(ctx: Ctx, draft: Draft) -> str | None:
    try:
        when, _ = scheduled(ctx, draft)
    except ValueError:
        return "Skriv en dato som 2027-05-29 og et klokkeslæt som 09:30."
    if when is not None and when < ctx.now:
        return "Tiden er allerede passeret; vælg en senere tid."
    return None


# --- images -----------------------------------------------------------------------------------


def uploads_dir(settings: Settings, name: str = "") -> Path | None:
    """The uploads folder (or the file `name` in it when it exists); made when first needed."""
    folder = settings.web.uploads_dir or _beside_database(settings)
    if not name:
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    path = folder / name
    return path if path.is_file() else None


def _beside_database(settings: Settings) -> Path:
    url = sa.engine.make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return Path(url.database).resolve().parent / "uploads"
    return (settings.path.parent if settings.path else Path.cwd()) / "uploads"


def image_path(settings: Settings, name: str) -> str:
    folder = settings.web.uploads_dir or _beside_database(settings)
    return str(folder / name)


class ImageRefused(Exception):
    """An upload that is not an image we keep; the message is Danish, for the form."""


def clean_image(data: bytes) -> tuple[bytes, str]:
    """The picture re-encoded by Pillow (nothing else of the file survives) and its suffix."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageRefused(f"Billedet er for stort; højst {MAX_IMAGE_BYTES // 1024 // 1024} MB.")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format or ""
            width, height = probe.size
            if kind not in SAVE_AS:
                raise ImageRefused("Kun billeder i PNG, JPEG, GIF eller WebP kan bruges.")
            if width * height > MAX_PIXELS:
                raise ImageRefused("Billedet har for mange pixels; gør det mindre.")
            probe.verify()
        with Image.open(io.BytesIO(data)) as picture:
            picture.seek(0)
            picture.load()
            upright = ImageOps.exif_transpose(picture) or picture
            return _encode(upright, kind)
    except ImageRefused:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ImageRefused("Filen er ikke et billede, der kan læses.") from None


def _encode(picture: Image.Image, kind: str) -> tuple[bytes, str]:
    fmt, suffix = SAVE_AS[kind]
    clean = picture.copy()
    clean.info = {}  # no metadata, ICC profile or comment rides along
    if fmt == "JPEG" and clean.mode not in ("RGB", "L"):
        clean = clean.convert("RGB")
    elif fmt == "WEBP" and clean.mode not in ("RGB", "RGBA"):
        clean = clean.convert("RGBA")
    elif fmt == "PNG" and clean.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
        clean = clean.convert("RGBA")
    out = io.BytesIO()
    options = {"quality": 90} if fmt in ("JPEG", "WEBP") else {}
    clean.save(out, fmt, **options)
    return out.getvalue(), suffix


def store_upload(ctx: Ctx, upload: UploadFile) -> str:
    """Check, clean and keep an uploaded image; its new file name (random, never the user's)."""
    data = upload.file.read(MAX_IMAGE_BYTES + 1)
    clean, suffix = clean_image(data)
    name = uuid.uuid4().hex + suffix
    folder = uploads_dir(ctx.settings)
    assert folder is not None
    (folder / name).write_bytes(clean)
    return name


def _take_upload(ctx: Ctx, draft: Draft, errors: dict[str, str]) -> None:
    upload = ctx.form.get("image") if ctx.form is not None else None
    if not isinstance(upload, UploadFile) or not upload.filename:
        return
    try:
        draft.image = store_upload(ctx, upload)
    except ImageRefused as exc:
        errors["image"] = str(exc)


# --- the pages --------------------------------------------------------------------------------


def _form(
    ctx: Ctx,
    draft: Draft,
    *,
    offered: dict[str, ChannelSettings],
    found: list[Count] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return ctx.page(
        "compose.html",
        status,
        title="Skriv opslag",
        draft=draft,
        groups=grouped(offered),
        counts={item.channel: item for item in found or []},
        checked=found is not None,
        errors=errors or {},
        type_names=TYPE_NAMES,
        limits={name: text_limit(c.type) for name, c in offered.items()},
    )


@page
def compose_form(ctx: Ctx) -> Response:
    """GET /compose: an empty form with the channels this user may write for."""
    ctx.require(Action.COMPOSE)
    offered = composable(ctx)
    if not offered:
        raise Refused(403, "Du kan ikke skrive for nogen af kanalerne.")
    return _form(ctx, Draft(), offered=offered)


@page
def compose_post(ctx: Ctx) -> Response:
    """POST /compose: check the text ("Tjek tekst"), save it as drafts, or submit it."""
    ctx.require(Action.COMPOSE)
    offered = composable(ctx)
    draft = read_draft(ctx, offered)
    errors: dict[str, str] = {}
    _take_upload(ctx, draft, errors)
    found = counts(ctx, draft)
    errors.update(field_errors(ctx, draft, found))
    action = ctx.field("action")
    if action not in ("draft", "submit"):  # "Tjek tekst": show the counts and findings
        return _form(ctx, draft, offered=offered, found=found, errors=errors)
    if errors:
        return _form(ctx, draft, offered=offered, found=found, errors=errors, status=400)
    when, local_text = scheduled(ctx, draft)
    try:
        ids = queue.compose(
            ctx.db,
            actor=ctx.user.username,
            channels=draft.channels,
            text=draft.text,
            variants={c: text_for(ctx.settings, draft, c) for c in draft.channels},
            title=draft.title or None,
            image_path=image_path(ctx.settings, draft.image) if draft.image else None,
            image_alt=draft.image_alt or None,
            scheduled_at=when,
            local_time=local_text,
            submit=action == "submit",
        )
    except QueueError as exc:
        errors["channels"] = str(exc)
        return _form(ctx, draft, offered=offered, found=found, errors=errors, status=400)
    _tag_links(ctx, draft, ids)
    first = ctx.db.get(Post, ids[0])
    assert first is not None and first.story
    ok = "submitted" if action == "submit" else "saved"
    return RedirectResponse(f"/stories/{first.story}?ok={ok}", status_code=303)


def _tag_links(ctx: Ctx, draft: Draft, ids: list[int]) -> None:
    """Each new draft's link with its own channel's UTM source, as a planned post's link."""
    if not draft.link:
        return
    for post_id, channel in zip(ids, draft.channels, strict=True):
        ctx.db.execute(
            sa.update(Post)
            .where(Post.id == post_id)
            .values(link=link_for(ctx.settings, draft, channel))
        )


@page
def count(ctx: Ctx) -> Response:
    """POST /compose/count: each chosen channel's count and findings, for compose.js."""
    ctx.require(Action.COMPOSE)
    draft = read_draft(ctx, composable(ctx))
    return JSONResponse({"channels": [item.as_json() for item in counts(ctx, draft)]})


STORY_NOTICES = {
    "saved": "Opslagene er gemt som kladder.",
    "submitted": "Opslagene er sendt til godkendelse.",
}


@page
def story(ctx: Ctx, story: str) -> Response:
    """GET /stories/ID: the posts of one composed story, together."""
    posts = [p for p in queue.story_posts(ctx.db, story[:64]) if ctx.may(Action.VIEW, p)]
    if not posts:
        raise Refused(404, "Historien findes ikke, eller du har ikke adgang til den.")
    return ctx.page(
        "story.html",
        title=posts[0].title or "Opslag på flere kanaler",
        posts=posts,
        notice=STORY_NOTICES.get(ctx.query("ok")),
    )


@page
def uploaded(ctx: Ctx, name: str) -> Response:
    """GET /uploads/NAME: an uploaded (cleaned) image, for signed-in users only."""
    ctx.require(Action.VIEW)
    path = uploads_dir(ctx.settings, name) if UPLOAD_NAME.match(name) else None
    if path is None:
        raise Refused(404, "Billedet findes ikke.")
    kind = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}[path.suffix]
    return FileResponse(path, media_type=kind, headers={"cache-control": "private, max-age=300"})
