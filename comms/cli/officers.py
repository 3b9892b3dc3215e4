"""Commands for comms officers: campaigns, plan, queue, approve, cancel, reschedule."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import click

from comms.cli.common import (
    AppContext,
    current_actor,
    output_format_option,
    parse_date,
    parse_local_datetime,
    pass_app,
)
from comms.cli.output import print_json, print_table, progress_bar
from comms.content.terminal import terminal_line, terminal_text

if TYPE_CHECKING:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from comms.config import Settings
    from comms.plan import PlanChanges, PlannedPost, Undated


@click.group("campaigns")
def campaigns_group() -> None:
    """Campaign files: list, validate and preview them.

    \b
    Example:
      comms campaigns validate
      comms campaigns preview karneval --year 2027
    """


@campaigns_group.command("list")
@click.option("--year", type=int, default=None, help="Show the event dates of this year.")
@pass_app
def campaigns_list(app: AppContext, year: int | None) -> None:
    """List the campaigns with their focus area, steps and event dates.

    \b
    Example:
      comms campaigns list --year 2027
    """
    from comms.campaigns.loader import CampaignSet
    from comms.content.danish import format_date

    campaigns = CampaignSet.load(app.settings.campaigns_dir)
    year = year or _this_year(app)
    rows = []
    for spec in campaigns:
        try:
            dates = ", ".join(format_date(d) for d in campaigns.event_dates(spec.slug, year))
        except Exception as exc:
            dates = f"({exc})"
        rows.append([spec.slug, spec.title, spec.focus_area or "", str(len(spec.steps)), dates])
    print_table(["slug", "title", "focus area", "steps", f"event {year}"], rows)


@campaigns_group.command("validate")
@click.option(
    "--year",
    "years",
    type=int,
    multiple=True,
    help="Years to render and lint (default: this year and next).",
)
@pass_app
def campaigns_validate(app: AppContext, years: tuple[int, ...]) -> None:
    """Check every campaign file and template; render and lint every post. Writes nothing.

    A campaign whose rule gives no date in a year is a warning (with what to add), not an error.

    \b
    Example:
      comms campaigns validate --year 2027
    """
    from comms.validate import validate_all

    this = _this_year(app)
    report = validate_all(app.settings, years or (this, this + 1))
    for line in report.errors:
        click.echo(f"error: {line}", err=True)
    for line in report.warnings + report.lint_warnings:
        click.echo(f"warning: {line}", err=True)
    if report.errors:
        raise click.ClickException(
            f"{len(report.errors)} problem(s) in {app.settings.campaigns_dir}"
        )
    undated = (
        f"; {len(report.warnings)} campaign year(s) without a date (see the warnings)"
        if report.warnings
        else ""
    )
    click.echo(
        f"ok: {report.campaigns} campaign(s), {report.templates} template(s), "
        f"{report.posts} post(s) rendered and linted for {', '.join(map(str, report.years))}"
        f"{undated}"
        + (
            f"; {len(report.lint_warnings)} lint warning(s) (see above)"
            if report.lint_warnings
            else ""
        )
    )


@campaigns_group.command("preview")
@click.argument("slug")
@click.option("--year", type=int, required=True, help="The year to preview.")
@output_format_option("table", "json")
@pass_app
def campaigns_preview(app: AppContext, slug: str, year: int, fmt: str) -> None:
    """Show every post of a campaign in a year: local time, channel, audience and text.

    \b
    Example:
      comms campaigns preview karneval --year 2027
    """
    from comms.campaigns.loader import CampaignSet
    from comms.plan import build_posts

    settings = app.settings
    campaigns = CampaignSet.load(settings.campaigns_dir)
    posts = build_posts(settings, campaigns, year, [slug])
    if fmt == "json":
        print_json(
            [
                {
                    "key": p.plan_key,
                    "local_time": p.local_time,
                    "utc": p.scheduled_at,
                    "channel": p.channel,
                    "audience": p.audience,
                    "title": p.title,
                    "text": p.text,
                    "link": p.link,
                    "image": p.image_path,
                    "alt": p.image_alt,
                    "dst_adjusted": p.dst_adjusted,
                    "link_from": p.link_from,
                    "warnings": list(p.warnings),
                }
                for p in posts
            ]
        )
        return
    from comms.content.link_from import describe, for_lint
    from comms.content.lint import text_length, text_limit

    click.echo(f"{slug} {year}: {len(posts)} post(s)\n")
    for p in sorted(posts, key=lambda p: (p.scheduled_at, p.channel)):
        limit = text_limit(p.channel_type)
        counted = for_lint(p.text) if p.link_from else p.text  # as lint counts it
        size = f"{text_length(counted, p.channel_type)}" + (f" of {limit}" if limit else "")
        moved = " (moved past the DST gap)" if p.dst_adjusted else ""
        click.secho(
            f"{_weekday_time(p, settings.zone)}{moved} | {terminal_line(p.channel)} | "
            f"{terminal_line(p.audience)} | {size} characters",
            bold=True,
        )
        if p.title:
            click.echo(f"  {terminal_line(p.title)}")
        if p.image_path:
            click.echo(
                f"  [image {terminal_line(p.image_path)}: {terminal_line(p.image_alt or '')}]"
            )
        if p.link_from:
            click.echo(f"  [link: {terminal_line(describe(p.link or ''))}]")
        for line in terminal_text(describe(p.text)).splitlines():
            click.echo(f"    {line}".rstrip())
        for warning in p.warnings:
            click.secho(f"  advarsel: {warning}", fg="yellow")
        click.echo()


def _this_year(app: AppContext) -> int:
    """The current year in the configured zone (not the machine's)."""
    from datetime import datetime

    return datetime.now(app.settings.zone).year


def _weekday_time(post: PlannedPost, zone: ZoneInfo) -> str:
    from comms.content.danish import format_date, format_time, format_weekday

    local = post.scheduled_at.astimezone(zone)
    return f"{format_weekday(local.date())} {format_date(local.date())} kl. {format_time(local)}"


@click.command("plan")
@click.option("--year", type=int, required=True, help="The year to plan.")
@click.option("--campaign", "slugs", multiple=True, help="Only these campaigns (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@pass_app
def plan_command(app: AppContext, year: int, slugs: tuple[str, ...], dry_run: bool) -> None:
    """Put a year's posts in the queue; re-running after an edit changes only unpublished posts.

    A post the team cancelled stays cancelled. A campaign whose rule gives no date in the year
    is left out with a warning saying what to add; the others are planned. --dry-run shows the
    changes and writes nothing (no database is created).

    \b
    Example:
      comms plan --year 2027
      comms plan --year 2027 --campaign karneval --dry-run
    """
    from comms.campaigns.loader import CampaignSet
    from comms.plan import build_year

    settings = app.settings
    campaigns = CampaignSet.load(settings.campaigns_dir)
    selected = list(slugs) or [spec.slug for spec in campaigns]
    with progress_bar() as progress:
        found = build_year(settings, campaigns, year, selected, progress=progress)
    _warn_undated(found.undated)
    if found.warnings:
        click.echo(
            f"warning: {len(found.warnings)} lint warning(s) (readability); they do not stop "
            "the plan: see them with `comms campaigns validate` or `comms campaigns preview`",
            err=True,
        )
    if dry_run:
        changes = _dry_run_changes(app, found.posts, year, found.dated)
    else:
        changes = _sync(app, found.posts, year, found.dated)
    _print_changes(changes, dry_run=dry_run, approval=settings.require_approval)
    _warn_overdue_planned(settings, found.posts, changes)
    if found.undated:
        click.echo(
            f"{len(found.undated)} campaign(s) without a date in {year} not planned "
            "(see the warnings); their posts already in the queue are left as they are."
        )


def _warn_undated(undated: list[Undated]) -> None:
    """One warning line on stderr per campaign left out for want of a date."""
    for item in undated:
        click.echo(f"warning: {item.describe('it is not planned')}", err=True)


def _sync(app: AppContext, posts: list[PlannedPost], year: int, selected: list[str]) -> PlanChanges:
    """Write the plan to the queue (creating a new database)."""
    from comms.plan import sync
    from comms.store.db import session_scope

    with session_scope(app.ready_database()) as session:
        return sync(
            session,
            posts,
            year=year,
            campaigns=selected,
            require_approval=app.settings.require_approval,
            actor=current_actor(),
        )


def _dry_run_changes(
    app: AppContext, posts: list[PlannedPost], year: int, selected: list[str]
) -> PlanChanges:
    """What `plan` would change, read from the queue if there is one; creates nothing."""
    from comms.plan import diff, sync
    from comms.store.db import current_revision, ensure_schema, session_scope, sqlite_path

    url, approval = app.url, app.settings.require_approval
    path = sqlite_path(url)
    if (path is not None and not path.exists()) or current_revision(url) is None:
        # no queue yet: every post would be new
        return diff({}, posts, require_approval=approval, actor=current_actor()).changes
    ensure_schema(url, create_if_empty=False)
    with session_scope(url) as session:
        return sync(
            session,
            posts,
            year=year,
            campaigns=selected,
            require_approval=approval,
            actor=current_actor(),
            dry_run=True,
        )


def _warn_overdue_planned(
    settings: Settings, posts: list[PlannedPost], changes: PlanChanges
) -> None:
    """Warn about added or changed posts whose time has already passed (drafts or queued)."""
    from comms.cli.timing import warn_overdue
    from comms.store.models import utcnow

    touched = set(changes.added) | set(changes.updated)
    late = sorted((p.scheduled_at, p.plan_key) for p in posts if p.plan_key in touched)
    warn_overdue(
        settings,
        [(key, when) for when, key in late],
        now=utcnow(),
        queued=not settings.require_approval,
    )


def _print_changes(changes: PlanChanges, *, dry_run: bool, approval: bool) -> None:
    verb = "would be" if dry_run else "were"
    for label, keys in (
        ("added", changes.added),
        ("updated", changes.updated),
        ("cancelled (removed from the campaign)", changes.removed),
    ):
        if keys:
            click.echo(f"{len(keys)} post(s) {verb} {label}:")
            for key in keys[:50]:
                click.echo(f"  {key}")
            if len(keys) > 50:
                click.echo(f"  … and {len(keys) - 50} more")
    if changes.back_to_draft:
        click.echo(
            f"{len(changes.back_to_draft)} approved post(s) changed and need approval again."
        )
    for keys, why in (
        (changes.locked, "already published or publishing; left as they are"),
        (changes.kept_cancelled, "cancelled, left alone"),
    ):
        if keys:
            click.echo(f"{len(keys)} post(s) changed in the files but are {why}:")
            for key in keys:
                click.echo(f"  {key}")
    click.echo(f"{changes.unchanged} post(s) unchanged.")
    if changes.added and approval and not dry_run:
        click.echo(
            "New posts are drafts: approve them with `comms approve --campaign SLUG --year YEAR`."
        )


@click.group("queue")
def queue_group() -> None:
    """The queue of posts.

    \b
    Example:
      comms queue list --state draft --campaign karneval
    """


@queue_group.command("list")
@click.option(
    "--state",
    "states",
    multiple=True,
    help="draft, queued, publishing, published, failed, unknown, missed, cancelled, held "
    "(repeatable).",
)
@click.option("--channel", "channels", multiple=True, help="Channel name (repeatable).")
@click.option("--campaign", "campaigns", multiple=True, help="Campaign slug (repeatable).")
@click.option("--from", "date_from", metavar="DATE", help="Scheduled on or after this local date.")
@click.option("--to", "date_to", metavar="DATE", help="Scheduled on or before this local date.")
@click.option("--limit", type=int, default=200, show_default=True)
@output_format_option("table", "json")
@pass_app
def queue_list(
    app: AppContext,
    states: tuple[str, ...],
    channels: tuple[str, ...],
    campaigns: tuple[str, ...],
    date_from: str | None,
    date_to: str | None,
    limit: int,
    fmt: str,
) -> None:
    """List posts in the queue, filtered by state, channel, campaign and dates.

    \b
    Example:
      comms queue list --state unknown
      comms queue list --campaign karneval --from 2027-05-01 --to 2027-05-31
    """
    from comms.content.link_from import describe
    from comms.queue.links import waits
    from comms.report.figures import ONE_OFF
    from comms.store.db import session_scope
    from comms.store.queries import list_posts, short_story

    settings = app.settings
    start = parse_date(date_from, "--from") if date_from else None
    end = parse_date(date_to, "--to") if date_to else None
    with session_scope(app.ready_database()) as session:
        posts = list_posts(
            session,
            states=states,
            channels=channels,
            campaigns=campaigns,
            start=start,
            end=end,
            zone=settings.zone,
            limit=limit,
        )
        waiting = waits(session, posts)
    if fmt == "json":
        print_json(
            [
                {
                    **post.model_dump(),
                    "waiting_for": waiting[post.id].words(settings.zone)
                    if post.id in waiting
                    else None,
                }
                for post in posts
            ]
        )
        return
    rows = [
        [
            str(p.id),
            "when approved"
            if p.on_approval and p.state in ("draft", "rejected")
            else p.scheduled_at.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M"),
            f"{p.state}, venter på {waiting[p.id].source}" if p.id in waiting else p.state,
            p.channel,
            p.campaign or (f"{ONE_OFF} {short_story(p.story)}" if p.story else ""),
            p.audience or "",
            (p.title or describe(p.text)).replace("\n", " ")[:60],
        ]
        for p in posts
    ]
    print_table(
        ["id", "local time", "state", "channel", "campaign", "audience", "title"],
        rows,
        title=f"{len(posts)} post(s), local times in {settings.timezone}",
    )


@queue_group.command("show")
@click.argument("post_id", type=int)
@pass_app
def queue_show(app: AppContext, post_id: int) -> None:
    """Show one post whole: its text, state, every publish attempt and its audit history.

    \b
    Example:
      comms queue show 12
    """
    from sqlmodel import col, select

    from comms.content.link_from import describe
    from comms.errors import QueueError
    from comms.queue.links import wait_of
    from comms.store.db import session_scope
    from comms.store.models import Attempt, AuditEvent, Post
    from comms.timeutil import zoned_text

    zone = app.settings.zone
    with session_scope(app.ready_database()) as session:
        post = session.get(Post, post_id)
        if post is None:
            raise QueueError(f"no post with id {post_id}")
        waiting = wait_of(session, post)
        source = session.get(Post, post.link_from_post_id) if post.link_from_post_id else None
        attempts = session.exec(
            select(Attempt).where(col(Attempt.post_id) == post_id).order_by(col(Attempt.started_at))
        ).all()
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.post_id == post_id)
            .order_by(col(AuditEvent.at), col(AuditEvent.id))
        ).all()

    def local(value: datetime | None) -> str:
        return zoned_text(value, zone, seconds=True) if value else "-"

    click.secho(f"post {post.id}: {terminal_line(post.state)}", bold=True)
    if waiting is not None:
        click.secho(f"  {terminal_line(waiting.words(zone))}", fg="yellow")
    for label, value in (
        ("campaign", f"{post.campaign or '-'} {post.year or ''} {post.step or ''}".strip()),
        ("channel", post.channel),
        ("story", post.story or "-"),
        ("author", post.author or "-"),
        ("audience", post.audience or "-"),
        (
            "scheduled",
            f"{local(post.scheduled_at)} ({post.local_time or '-'} local wall time"
            f"{', moved past the DST gap' if post.dst_adjusted else ''})",
        ),
        (
            "approved",
            f"{post.approved_by} at {local(post.approved_at)}" if post.approved_by else "-",
        ),
        (
            "published",
            f"{local(post.published_at)} {post.external_url or post.external_id or ''}"
            if post.published_at
            else "-",
        ),
        ("last error", post.last_error or "-"),
        ("title", post.title or "-"),
        ("link", describe(post.link) if post.link else "-"),
        (
            "links to",
            f"the page of post {source.id} ({source.step}.{source.channel}, {source.state})"
            if source is not None
            else "-",
        ),
        ("image", f"{post.image_path} ({post.image_alt})" if post.image_path else "-"),
    ):
        click.echo(f"{label:>10}: {terminal_line(value)}")
    click.echo("\n" + terminal_text(describe(post.text)) + "\n")
    if attempts:
        print_table(
            ["started", "finished", "outcome", "HTTP", "error"],
            [
                [
                    local(a.started_at),
                    local(a.finished_at),
                    a.outcome or "in progress",
                    str(a.http_status or ""),
                    a.error or "",
                ]
                for a in attempts
            ],
            title="attempts",
        )
    print_table(
        ["when", "who", "action", "detail"],
        [[local(e.at), e.actor, e.action, e.detail or ""] for e in events],
        title="history",
    )


@click.command("approve")
@click.argument("post_ids", nargs=-1, type=int)
@click.option("--campaign", help="Approve every draft of this campaign (with --year).")
@click.option("--year", type=int, help="The campaign year to approve.")
@pass_app
def approve_command(
    app: AppContext, post_ids: tuple[int, ...], campaign: str | None, year: int | None
) -> None:
    """Approve drafts so the daemon publishes them: by id, or a whole campaign year.

    \b
    Example:
      comms approve 12 13
      comms approve --campaign karneval --year 2027
    """
    from sqlmodel import col, select

    from comms.cli.timing import warn_overdue
    from comms.queue import transitions as queue
    from comms.store.db import session_scope
    from comms.store.models import Post, PostState, utcnow

    if not post_ids and not (campaign and year):
        raise click.UsageError("give post ids, or --campaign and --year")
    with session_scope(app.ready_database()) as session:
        queue.require_posts(session, list(post_ids))
        ids = list(post_ids)
        if campaign:
            # primary keys read back are never None (the column type allows it before insert)
            ids += cast(
                list[int],
                list(
                    session.exec(
                        select(Post.id).where(
                            Post.campaign == campaign,
                            Post.year == year,
                            Post.state == PostState.DRAFT,
                        )
                    ).all()
                ),
            )
        drafts = session.exec(
            select(Post.id, Post.scheduled_at).where(
                col(Post.id).in_(ids), col(Post.state) == PostState.DRAFT
            )
        ).all()
        not_drafts = session.exec(
            select(Post.id, Post.state).where(
                col(Post.id).in_(list(post_ids)), col(Post.state) != PostState.DRAFT
            )
        ).all()
        now = utcnow()
        count = queue.approve(session, ids, actor=current_actor())
    click.echo(f"approved {count} post(s)")
    for post_id, state in sorted(not_drafts):
        click.echo(f"post {post_id} is {state}, not a draft; unchanged.")
    warn_overdue(
        app.settings, [(f"post {i}", when) for i, when in sorted(drafts)], now=now, queued=True
    )


@click.command("cancel")
@click.argument("post_ids", nargs=-1, type=int, required=True)
@click.option("--reason", help="Why, for the audit log.")
@pass_app
def cancel_command(app: AppContext, post_ids: tuple[int, ...], reason: str | None) -> None:
    """Cancel posts that have not started publishing (held ones too).

    \b
    Example:
      comms cancel 12 --reason "event cancelled"
    """
    from comms.queue import transitions as queue
    from comms.store.db import session_scope

    with session_scope(app.ready_database()) as session:
        queue.require_posts(session, list(post_ids))
        for post_id in post_ids:
            queue.cancel(session, post_id, actor=current_actor(), reason=reason)
    click.echo(f"cancelled {len(post_ids)} post(s)")


@click.command("reschedule")
@click.argument("post_id", type=int)
@click.argument("when", metavar="'YYYY-MM-DD HH:MM'")
@pass_app
def reschedule_command(app: AppContext, post_id: int, when: str) -> None:
    """Move a draft, queued or held post to another local time (in the configured timezone).

    A held post (stopped by a crisis pause) is queued again at its new time.

    \b
    Example:
      comms reschedule 12 "2027-05-28 09:30"
    """
    from comms.cli.timing import warn_overdue
    from comms.content.danish import format_datetime
    from comms.queue import transitions as queue
    from comms.store.db import session_scope
    from comms.store.models import Post, PostState, utcnow
    from comms.timeutil import local_to_utc

    settings = app.settings
    local = parse_local_datetime(when, "WHEN")
    resolved = local_to_utc(local.date(), local.time(), settings.zone)
    with session_scope(app.ready_database()) as session:
        queue.reschedule(
            session,
            post_id,
            resolved.utc,
            actor=current_actor(),
            local_text=local.strftime("%Y-%m-%d %H:%M"),
            zone=settings.zone,
        )
        moved = session.get(Post, post_id)
        assert moved is not None  # reschedule has just changed it
        state = moved.state
    note = " (moved past the DST gap)" if resolved.dst_adjusted else ""
    click.echo(f"post {post_id} now at {format_datetime(resolved.utc, settings.zone)}{note}")
    warn_overdue(
        settings,
        [(f"post {post_id}", resolved.utc)],
        now=utcnow(),
        queued=state == PostState.QUEUED,
    )


def register(cli: click.Group) -> None:
    for command in (
        campaigns_group,
        plan_command,
        queue_group,
        approve_command,
        cancel_command,
        reschedule_command,
    ):
        cli.add_command(command)
