"""The crisis pause in the workspace: "Stop alle udgivelser" (approvers and admins), the pauses in
force and the calls they could not stop, lifting a pause, and the held posts for a person to
publish late, move or cancel one by one.

Who may pause what: an approver or admin; one bound to an organisation stops only that
organisation's channels, one who works for all organisations may stop everything. Lifting a
pause asks the same of its scope. The banner every page shows is comms/web/banner.py's.
"""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from comms.access import Action, Role
from comms.errors import CommsError, QueueError
from comms.queue import pauses
from comms.queue import transitions as queue
from comms.store.models import CrisisPause, Post, PostState
from comms.web.context import Ctx, Refused, page
from comms.web.posts import move, visible_post

ALL = "all"  # the scope field's value for every channel
HELD_CHOICES = {
    "keep": "Lad dem vente på en person",
    "publish": "Udgiv dem alle nu (for sent)",
    "cancel": "Annuller dem alle",
}
NOTICES = {
    "paused": "Alle udgivelser på det valgte område er stoppet. Teamet får besked.",
    "resumed": "Krisestoppet er ophævet. Tilbageholdte opslag udgives ikke af sig selv.",
    "released": "Opslaget udgives nu, for sent.",
    "rescheduled": "Opslaget er flyttet og står i køen igen.",
    "cancelled": "Opslaget er annulleret.",
}


def routes() -> list[Route]:
    return [
        Route("/crisis", crisis, methods=["GET"]),
        Route("/crisis/pause", pause, methods=["POST"]),
        Route("/crisis/{pause_id:int}/resume", resume, methods=["POST"]),
        Route("/crisis/held/{post_id:int}/release", release, methods=["POST"]),
        Route("/crisis/held/{post_id:int}/reschedule", reschedule, methods=["POST"]),
        Route("/crisis/held/{post_id:int}/cancel", cancel, methods=["POST"]),
    ]


def scopes_for(ctx: Ctx) -> dict[str, str]:
    """The scopes this user may pause (field value -> words), widest first; empty: none."""
    if not ctx.may(Action.PAUSE):
        return {}
    mine = ctx.user.organisation
    organisations = sorted(
        {c.organisation for c in ctx.settings.channels.values() if c.organisation}
    )
    if mine is not None and Role(ctx.user.role) != Role.ADMIN:
        return {mine: f"Organisationen {mine}"} if mine in organisations else {}
    return {ALL: "Alle kanaler", **{org: f"Organisationen {org}" for org in organisations}}


def may_lift(ctx: Ctx, row: CrisisPause) -> bool:
    """Whether this user may lift `row`: the same rule as for making it."""
    scopes = scopes_for(ctx)
    if row.organisation is not None:
        return row.organisation in scopes
    return ALL in scopes


@page
def crisis(ctx: Ctx) -> Response:
    """GET /crisis: stop everything, see what is stopped and held, lift it, settle held posts."""
    in_force = pauses.active(ctx.db)
    held = [p for p in queue.held_posts(ctx.db) if ctx.may(Action.VIEW, p)]
    return ctx.page(
        "crisis.html",
        title="Krisestop",
        scopes=scopes_for(ctx),
        in_force=in_force,
        scope_text={int(p.id or 0): queue.scope_text(p) for p in in_force},
        liftable={int(p.id or 0) for p in in_force if may_lift(ctx, p)},
        in_flight=queue.in_flight(ctx.db, in_force),
        held=held,
        may_release={int(p.id or 0) for p in held if ctx.may(Action.RELEASE, p)},
        may_move={int(p.id or 0) for p in held if ctx.may(Action.RESCHEDULE, p)},
        may_cancel={int(p.id or 0) for p in held if ctx.may(Action.CANCEL, p)},
        held_choices=HELD_CHOICES,
        notice=NOTICES.get(ctx.query("ok")),
    )


@page
def pause(ctx: Ctx) -> Response:
    """POST /crisis/pause: stop every scheduled post on the chosen scope, now (audited)."""
    ctx.require(Action.PAUSE)
    scopes = scopes_for(ctx)
    scope = ctx.field("scope")
    if scope not in scopes:
        raise Refused(403, "Du kan ikke stoppe udgivelserne på det område.")
    reason = ctx.field("reason").strip()[:2000]
    if not reason:
        raise Refused(400, "Skriv hvorfor alle udgivelser stoppes (det står i revisionsloggen).")
    if ctx.field("confirm") != "yes":
        raise Refused(400, "Bekræft, at alle planlagte opslag på området skal stoppes nu.")
    organisation = None if scope == ALL else scope
    try:
        channels = ctx.settings.pause_scope(organisation=organisation)
        queue.pause(
            ctx.db,
            actor=ctx.user.username,
            reason=reason,
            channels=channels,
            organisation=organisation,
        )
    except CommsError as exc:
        raise Refused(409, str(exc)) from None
    return _after(ctx, "paused")


@page
def resume(ctx: Ctx, pause_id: int) -> Response:
    """POST /crisis/ID/resume: lift one pause; held posts wait unless the person chose."""
    ctx.require(Action.PAUSE)
    row = ctx.db.get(CrisisPause, pause_id)
    if row is None or row.resumed_at is not None:
        raise Refused(409, "Krisestoppet er allerede ophævet.")
    if not may_lift(ctx, row):
        raise Refused(403, "Du kan ikke ophæve et krisestop uden for din organisation.")
    choice = ctx.field("held", "keep")
    if choice not in HELD_CHOICES:
        raise Refused(400, "Vælg, hvad der skal ske med de tilbageholdte opslag.")
    if choice != "keep" and ctx.field("confirm") != "yes":
        raise Refused(400, "Bekræft, at alle tilbageholdte opslag skal udgives eller annulleres.")
    try:
        queue.resume(
            ctx.db,
            actor=ctx.user.username,
            pause_id=pause_id,
            publish_held=choice == "publish",
            cancel_held=choice == "cancel",
        )
    except QueueError as exc:
        raise Refused(409, str(exc)) from None
    return _after(ctx, "resumed")


def _after(ctx: Ctx, ok: str) -> Response:
    """Back to the crisis page; the team's notice goes out once the page's transaction has
    committed (a response's background task runs after the page returned)."""
    from comms.publishing.notify import send_now

    settings = ctx.settings
    return RedirectResponse(
        f"/crisis?ok={ok}", status_code=303, background=BackgroundTask(send_now, settings)
    )


def _held(ctx: Ctx, post_id: int, action: Action) -> Post:
    post = visible_post(ctx, post_id)
    ctx.require(action, post)
    if post.state != PostState.HELD:
        raise Refused(409, "Opslaget er ikke længere tilbageholdt.")
    return post


@page
def release(ctx: Ctx, post_id: int) -> Response:
    """POST /crisis/held/ID/release: publish a held post late (goes out at the next look)."""
    _held(ctx, post_id, Action.RELEASE)
    try:
        queue.release_held(ctx.db, [post_id], actor=ctx.user.username, now=ctx.now)
    except QueueError as exc:
        raise Refused(409, str(exc)) from None
    return RedirectResponse("/crisis?ok=released", status_code=303)


@page
def reschedule(ctx: Ctx, post_id: int) -> Response:
    """POST /crisis/held/ID/reschedule: a new local date and time; it is queued again."""
    post = _held(ctx, post_id, Action.RESCHEDULE)
    move(ctx, post, ctx.field("date"), ctx.field("time"))
    return RedirectResponse("/crisis?ok=rescheduled", status_code=303)


@page
def cancel(ctx: Ctx, post_id: int) -> Response:
    """POST /crisis/held/ID/cancel: the held post will not go out."""
    _held(ctx, post_id, Action.CANCEL)
    try:
        queue.cancel_held_posts(
            ctx.db, [post_id], actor=ctx.user.username, reason="annulleret efter krisestop"
        )
    except QueueError as exc:
        raise Refused(409, str(exc)) from None
    return RedirectResponse("/crisis?ok=cancelled", status_code=303)
