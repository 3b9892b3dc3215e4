"""The admin pages: users (add, change role, disable, reset a password) and the audit log.

Both are asked of comms.access (MANAGE_USERS, VIEW_AUDIT) on every request; the account work
is comms.accounts', the same functions as `comms users`. The audit log pages by keyset on its
id and downloads as CSV with the same filters.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import date
from urllib.parse import urlencode

from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from comms import accounts
from comms.access import Action, Role
from comms.errors import CommsError
from comms.store.db import session_scope
from comms.store.models import AuditEvent
from comms.timeutil import local_day_bounds
from comms.web.context import Ctx, Refused, page
from comms.web.queue_page import parse_day
from comms.web.words import ACTION_NAMES, action_name

PAGE_SIZE = 100
CSV_LIMIT = 200_000


def routes() -> list[Route]:
    return [
        Route("/users", users_page, methods=["GET"]),
        Route("/users/add", add_user, methods=["POST"]),
        Route("/users/{username}/role", set_role, methods=["POST"]),
        Route("/users/{username}/disable", disable_user, methods=["POST"]),
        Route("/users/{username}/enable", enable_user, methods=["POST"]),
        Route("/users/{username}/password", reset_password, methods=["POST"]),
        Route("/audit", audit_page, methods=["GET"]),
        Route("/audit.csv", audit_csv, methods=["GET"]),
    ]


def _users(ctx: Ctx, *, status: int = 200, error: str | None = None) -> Response:
    organisations = sorted(
        {c.organisation for c in ctx.settings.channels.values() if c.organisation}
    )
    return ctx.page(
        "users.html",
        status,
        title="Brugere",
        users=accounts.list_users(ctx.db),
        roles=[role.value for role in Role],
        organisations=organisations,
        error=error,
        form=ctx.form or {},
    )


@page
def users_page(ctx: Ctx) -> Response:
    """GET /users: every account, and the forms to manage them (admins only)."""
    ctx.require(Action.MANAGE_USERS)
    return _users(ctx)


def _account_change(ctx: Ctx, work: Callable[[], object], ok: str) -> Response:
    """Do an account change; a refused one (weak password, unknown name) shows on the page."""
    ctx.require(Action.MANAGE_USERS)
    try:
        work()
    except CommsError as exc:
        ctx.db.rollback()
        return _users(ctx, status=400, error=str(exc))
    return RedirectResponse(f"/users?ok={ok}", status_code=303)


@page
def add_user(ctx: Ctx) -> Response:
    """POST /users/add: a new account with a password."""

    def work() -> None:
        accounts.add_user(
            ctx.db,
            ctx.field("username"),
            ctx.field("password"),
            role=ctx.field("role"),
            organisation=ctx.field("organisation") or None,
            email=ctx.field("email").strip() or None,
            display_name=ctx.field("display_name").strip() or None,
            actor=ctx.user.username,
        )

    return _account_change(ctx, work, "user-added")


@page
def set_role(ctx: Ctx, username: str) -> Response:
    """POST /users/NAME/role: another role and organisation."""

    def work() -> None:
        accounts.set_role(
            ctx.db,
            username,
            role=ctx.field("role"),
            organisation=ctx.field("organisation") or None,
            actor=ctx.user.username,
        )

    return _account_change(ctx, work, "role-set")


@page
def disable_user(ctx: Ctx, username: str) -> Response:
    """POST /users/NAME/disable: no more sign-ins, and its sessions end now."""
    if accounts.normalise_username(username) == ctx.user.username:
        ctx.require(Action.MANAGE_USERS)
        return _users(ctx, status=400, error="Du kan ikke spærre dig selv.")
    return _account_change(
        ctx,
        lambda: accounts.disable_user(ctx.db, username, actor=ctx.user.username),
        "user-disabled",
    )


@page
def enable_user(ctx: Ctx, username: str) -> Response:
    """POST /users/NAME/enable: the account may sign in again."""
    return _account_change(
        ctx, lambda: accounts.enable_user(ctx.db, username, actor=ctx.user.username), "user-enabled"
    )


@page
def reset_password(ctx: Ctx, username: str) -> Response:
    """POST /users/NAME/password: a new password; the account's sessions end."""
    return _account_change(
        ctx,
        lambda: accounts.reset_password(
            ctx.db, username, ctx.field("password"), actor=ctx.user.username
        ),
        "password-reset",
    )


# --- the audit log ----------------------------------------------------------------------------


def _audit_query(ctx: Ctx) -> tuple[SelectOfScalar[AuditEvent], dict[str, str]]:
    """The filtered events, newest first, and the filters as the form shows them."""
    chosen = {name: ctx.query(name).strip() for name in ("actor", "action", "post", "from", "to")}
    query = select(AuditEvent)
    if chosen["actor"]:
        query = query.where(AuditEvent.actor == chosen["actor"])
    if chosen["action"]:
        query = query.where(AuditEvent.action == chosen["action"])
    if chosen["post"]:
        if not chosen["post"].isdigit():
            raise Refused(400, "Opslag skal være et nummer.")
        query = query.where(AuditEvent.post_id == int(chosen["post"]))
    start: date | None = parse_day(chosen["from"], "Fra")
    end: date | None = parse_day(chosen["to"], "Til")
    if start or end:
        low, high = local_day_bounds(
            start or date(1900, 1, 1), end or date(9998, 12, 31), ctx.settings.zone
        )
        query = query.where(AuditEvent.at >= low, AuditEvent.at < high)
    return query.order_by(col(AuditEvent.id).desc()), chosen


@page
def audit_page(ctx: Ctx) -> Response:
    """GET /audit: who did what, newest first, PAGE_SIZE at a time."""
    ctx.require(Action.VIEW_AUDIT)
    query, chosen = _audit_query(ctx)
    before = ctx.query("before")
    if before:
        if not before.isdigit():
            raise Refused(400, "Sideangivelsen er ugyldig; begynd forfra.")
        query = query.where(col(AuditEvent.id) < int(before))
    rows = ctx.db.exec(query.limit(PAGE_SIZE + 1)).all()
    kept = {k: v for k, v in chosen.items() if v}
    next_href = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        next_href = "/audit?" + urlencode({**kept, "before": rows[-1].id})
    return ctx.page(
        "audit.html",
        title="Log",
        events=[(e, action_name(e.action)) for e in rows],
        chosen=chosen,
        next_href=next_href,
        first_href="/audit?" + urlencode(kept) if before else None,
        csv_href="/audit.csv?" + urlencode(kept),
        actions=ACTION_NAMES,
    )


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@page
def audit_csv(ctx: Ctx) -> Response:
    """GET /audit.csv: the filtered log as CSV (UTC times, ISO 8601)."""
    ctx.require(Action.VIEW_AUDIT)
    query, _ = _audit_query(ctx)
    url = ctx.settings.database_url
    statement = query.limit(CSV_LIMIT)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["id", "tid_utc", "hvem", "handling", "opslag", "kampagne", "detaljer"])
        with session_scope(url) as db:
            for event in db.exec(statement):
                writer.writerow(
                    [
                        event.id,
                        event.at.isoformat(),
                        _cell(event.actor),
                        _cell(event.action),
                        event.post_id or "",
                        _cell(event.campaign),
                        _cell(event.detail),
                    ]
                )
                if buffer.tell() > 64_000:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="log.csv"'},
    )
