"""A post's page (its preview, length, lint, image, history, attempts) and the actions on it.

Every action is a POST to /posts/ID/ACTION, asked of comms.access.decide with the post's facts
before comms.queue.transitions does it; a wrong role is 403 with the rule's reason, a post the
user may not
see is 404. Each action ends in a redirect back to the post (post/redirect/get).
"""

from __future__ import annotations

import mimetypes
from datetime import date, datetime, time
from pathlib import Path

from sqlmodel import col, select
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from comms.access import Action
from comms.channels.registry import preview_card
from comms.content import link_from
from comms.content.links import link_problem
from comms.content.lint import errors_of, lint_post, text_length, text_limit, warnings_of
from comms.content.text import linkify
from comms.errors import QueueError
from comms.queue import transitions as queue
from comms.queue.links import source_name, wait_of
from comms.report.render import TYPE_NAMES
from comms.store.models import Attempt, AuditEvent, Post
from comms.timeutil import local_to_utc
from comms.web.context import Ctx, Refused, page
from comms.web.preview import domain_of
from comms.web.words import SETTLE_NAMES, STATE_NAMES, action_name, lint_message, outcome_name

IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}
MAX_TEXT = 70_000


def routes() -> list[Route]:
    return [
        Route("/posts/{post_id:int}", show, methods=["GET"]),
        Route("/posts/{post_id:int}/image", image, methods=["GET"]),
        Route("/posts/{post_id:int}/edit", edit, methods=["POST"]),
        Route("/posts/{post_id:int}/submit", submit, methods=["POST"]),
        Route("/posts/{post_id:int}/approve", approve, methods=["POST"]),
        Route("/posts/{post_id:int}/reject", reject, methods=["POST"]),
        Route("/posts/{post_id:int}/reschedule", reschedule, methods=["POST"]),
        Route("/posts/{post_id:int}/cancel", cancel, methods=["POST"]),
        Route("/posts/{post_id:int}/settle", settle, methods=["POST"]),
    ]


def visible_post(ctx: Ctx, post_id: int) -> Post:
    """The post, or 404 when it does not exist or this user may not see it."""
    post = ctx.db.get(Post, post_id)
    if post is None or not ctx.may(Action.VIEW, post):
        raise Refused(404, "Opslaget findes ikke, eller du har ikke adgang til det.")
    return post


def image_file(post: Post) -> Path | None:
    """The post's image when it is a local image file (never any other path)."""
    if not post.image_path or "://" in post.image_path:
        return None
    path = Path(post.image_path)
    if path.suffix.lower() not in IMAGE_TYPES or not path.is_file():
        return None
    return path


@page
def show(ctx: Ctx, post_id: int) -> Response:
    """GET /posts/ID: the post as it will look, and what this user may do with it."""
    post = visible_post(ctx, post_id)
    settings = ctx.settings
    channel = settings.channels.get(post.channel)
    kind = channel.type if channel else ""
    # a page address not out yet is counted as lint counted it when it was planned
    counted = link_from.for_lint(post.text)
    length, limit = text_length(counted, kind), text_limit(kind)
    problems = lint_post(
        text=counted,
        title=post.title,
        channel_type=kind,
        image=post.image_path,
        alt=post.image_alt,
        brand=settings.brand,
        readability=settings.readability,
    )
    attempts = ctx.db.exec(
        select(Attempt).where(col(Attempt.post_id) == post_id).order_by(col(Attempt.started_at))
    ).all()
    events = ctx.db.exec(
        select(AuditEvent).where(col(AuditEvent.post_id) == post_id).order_by(col(AuditEvent.at))
    ).all()
    when = (
        post.published_at if post.state == "published" and post.published_at else post.scheduled_at
    )
    rights = {action.value: bool(ctx.may(action, post)) for action in Action}
    story = [
        other
        for other in (queue.story_posts(ctx.db, post.story) if post.story else [])
        if other.id != post.id and ctx.may(Action.VIEW, other)
    ]
    source = ctx.db.get(Post, post.link_from_post_id) if post.link_from_post_id else None
    waiting = wait_of(ctx.db, post)
    return ctx.page(
        "post.html",
        title=post.title or f"Opslag {post_id}",
        link_source=source,
        link_source_name=source_name(source) if source is not None else None,
        waiting=waiting.words(settings.zone) if waiting is not None else None,
        link_pending=link_from.has_placeholder(post.link),
        post=post,
        when=when,
        kind_name=TYPE_NAMES.get(kind, kind or "ukendt kanaltype"),
        organisation=channel.organisation if channel else None,
        card=preview_card(kind),
        text=linkify(link_from.describe(post.text), rel="noreferrer noopener"),
        domain=None if link_from.has_placeholder(post.link) else domain_of(post.link),
        has_image=image_file(post) is not None,
        length=length,
        limit=limit,
        too_long=bool(limit and length > limit),
        problems=[
            lint_message(p.code, p.message, length=length, limit=limit) for p in errors_of(problems)
        ],
        advice=[p.message for p in warnings_of(problems)],
        attempts=[(a, outcome_name(a.outcome)) for a in attempts],
        events=[(e, action_name(e.action)) for e in events],
        versions=queue.versions(ctx.db, post_id),
        story=story,
        rights=rights,
        approve_reason=ctx.may(Action.APPROVE, post).reason,
        settle_names=SETTLE_NAMES,
        local=post.scheduled_at.astimezone(settings.zone),
    )


@page
def image(ctx: Ctx, post_id: int) -> Response:
    """GET /posts/ID/image: the post's image file, for those who may see the post."""
    post = visible_post(ctx, post_id)
    path = image_file(post)
    if path is None:
        raise Refused(404, "Opslaget har intet billede.")
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=kind, headers={"cache-control": "private, max-age=300"})


def _done(post_id: int, ok: str) -> Response:
    return RedirectResponse(f"/posts/{post_id}?ok={ok}", status_code=303)


def _act(ctx: Ctx, post_id: int, action: Action) -> Post:
    """The post, after checking this user may see it (404) and do `action` on it (403)."""
    post = visible_post(ctx, post_id)
    ctx.require(action, post)
    return post


def _conflict(exc: QueueError, post: Post, verb: str) -> Refused:
    """A refused state change in Danish (the queue's own message when it is Danish)."""
    message = str(exc)
    if not message.startswith("Opslag"):
        state = STATE_NAMES.get(post.state, post.state)
        message = f"Opslaget er {state} og kan ikke {verb} nu."
    return Refused(409, message)


@page
def edit(ctx: Ctx, post_id: int) -> Response:
    """POST /posts/ID/edit: a new version of the text; an approved post goes back to draft."""
    post = _act(ctx, post_id, Action.EDIT)
    text = ctx.field("text").replace("\r\n", "\n")
    if not text.strip():
        raise Refused(400, "Opslaget skal have en tekst.")
    if len(text) > MAX_TEXT:
        raise Refused(413, "Teksten er for lang.")
    link = ctx.field("link").strip()
    if link and link_problem(link) is not None:
        raise Refused(400, "Linket skal være en webadresse, der begynder med https://.")
    refused = link_from.placeholder_kept(post.text, text, post.link, link)
    if refused is not None:
        raise Refused(400, refused)
    try:
        queue.edit(
            ctx.db,
            post_id,
            actor=ctx.user.username,
            text=text,
            title=ctx.field("title").strip(),
            link=link,
            image_alt=ctx.field("image_alt").strip() if post.image_path else None,
        )
    except QueueError as exc:
        raise _conflict(exc, post, "redigeres") from None
    return _done(post_id, "edited")


@page
def submit(ctx: Ctx, post_id: int) -> Response:
    """POST /posts/ID/submit: the author asks for approval (the approvers see it waiting)."""
    _act(ctx, post_id, Action.SUBMIT)
    if queue.submit(ctx.db, [post_id], actor=ctx.user.username) != 1:
        raise Refused(409, "Opslaget er allerede sendt til godkendelse.")
    return _done(post_id, "submitted")


@page
def approve(ctx: Ctx, post_id: int) -> Response:
    """POST /posts/ID/approve: the draft goes into the queue."""
    post = _act(ctx, post_id, Action.APPROVE)
    if queue.approve(ctx.db, [post_id], actor=ctx.user.username) != 1:
        state = STATE_NAMES.get(post.state, post.state)
        raise Refused(409, f"Opslaget er {state}; kun en kladde kan godkendes.")
    return _done(post_id, "approved")


@page
def reject(ctx: Ctx, post_id: int) -> Response:
    """POST /posts/ID/reject: back to its author with a comment."""
    post = _act(ctx, post_id, Action.REJECT)
    comment = ctx.field("comment").strip()
    if not comment:
        raise Refused(400, "Skriv en kommentar til forfatteren: hvorfor afvises opslaget?")
    try:
        queue.reject(ctx.db, post_id, actor=ctx.user.username, comment=comment[:4000])
    except QueueError as exc:
        raise _conflict(exc, post, "afvises") from None
    return _done(post_id, "rejected")


def parse_local(day: str, clock: str) -> tuple[date, time]:
    """The date and time fields of a form (the browser's pickers send ISO), or 400."""
    try:
        return date.fromisoformat(day.strip()), time.fromisoformat(clock.strip())
    except ValueError:
        raise Refused(400, "Skriv en dato som 2027-05-29 og et klokkeslæt som 09:30.") from None


def move(ctx: Ctx, post: Post, day: str, clock: str) -> None:
    """Reschedule `post` to a local date and time in the configured zone (not in the past)."""
    ctx.require(Action.RESCHEDULE, post)
    local_day, wall = parse_local(day, clock)
    resolved = local_to_utc(local_day, wall, ctx.settings.zone)
    if resolved.utc < ctx.now:
        raise Refused(400, "Tiden er allerede passeret; vælg en senere tid.")
    try:
        queue.reschedule(
            ctx.db,
            int(post.id or 0),
            resolved.utc,
            actor=ctx.user.username,
            local_text=datetime.combine(local_day, wall).strftime("%Y-%m-%d %H:%M"),
        )
    except QueueError as exc:
        raise _conflict(exc, post, "flyttes") from None


@page
def reschedule(ctx: Ctx, post_id: int) -> Response:
    """POST /posts/ID/reschedule: a new local date and time."""
    post = visible_post(ctx, post_id)
    move(ctx, post, ctx.field("date"), ctx.field("time"))
    return _done(post_id, "rescheduled")


@page
def cancel(ctx: Ctx, post_id: int) -> Response:
    """POST /posts/ID/cancel: the post will not go out (it stays in the history)."""
    post = _act(ctx, post_id, Action.CANCEL)
    reason = ctx.field("reason").strip()[:1000] or None
    try:
        queue.cancel(ctx.db, post_id, actor=ctx.user.username, reason=reason)
    except QueueError as exc:
        raise _conflict(exc, post, "annulleres") from None
    return _done(post_id, "cancelled")


@page
def settle(ctx: Ctx, post_id: int) -> Response:
    """POST /posts/ID/settle: a person says what became of an `unknown` post."""
    post = _act(ctx, post_id, Action.SETTLE)
    outcome = ctx.field("outcome")
    if outcome not in SETTLE_NAMES:
        raise Refused(400, "Vælg, hvad der blev af opslaget.")
    url = ctx.field("url").strip() or None
    if url and link_problem(url) is not None:
        raise Refused(
            400, "Adressen på opslaget skal være en webadresse, der begynder med https://."
        )
    try:
        queue.resolve_unknown(ctx.db, post_id, outcome, actor=ctx.user.username, url=url)
    except QueueError as exc:
        raise _conflict(exc, post, "afgøres") from None
    return _done(post_id, "settled")
