"""Campaign x year -> posts, linted, and synchronised into the queue.

Planning is idempotent: each post has a stable key (campaign/year/occurrence/step/channel).
Re-planning after an edit rewrites only posts that have not started publishing, sends changed
approved posts back for approval (when approval is required), cancels posts whose step or
channel was removed, and reports each change. Published history is never rewritten, and a post
a person cancelled stays cancelled.
Nothing is written unless every post of the run renders and passes lint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import Session, col, select

from comms.campaigns.events import Occurrence
from comms.campaigns.images import image_problem
from comms.campaigns.loader import CampaignSet, CampaignSpec, StepSpec
from comms.channels.registry import receipt_url_problem
from comms.config import Settings
from comms.content import link_from as link_placeholder
from comms.content.lint import add_utm_and_links, errors_of, lint_post, tag_url, warnings_of
from comms.content.render import TemplateRenderer
from comms.errors import CampaignError, DateRuleError, LintError
from comms.queue.transitions import cancel_removed, replan, set_link_sources
from comms.store import audit
from comms.store.bulk import insert_sql, raw_cursor, sqlite_time, sqlite_time_or_none
from comms.store.models import EDITABLE_STATES, Post, PostState, new_keys, table_of, utcnow
from comms.timeutil import local_to_utc


@dataclass(frozen=True, slots=True)
class PlannedPost:
    """One post as the campaign files say it should be (slots: a plan holds thousands)."""

    plan_key: str
    campaign: str
    focus_area: str | None
    year: int
    occurrence: date
    step: str
    audience: str
    channel: str
    channel_type: str
    title: str | None
    text: str
    link: str | None
    image_path: str | None
    image_alt: str | None
    scheduled_at: datetime
    local_time: str
    dst_adjusted: bool
    # the plan key of the post whose published page this one links to (`link_from`)
    link_from: str | None = None
    warnings: tuple[str, ...] = ()  # lint warnings (readability): shown, never stop the plan

    @property
    def content_hash(self) -> str:
        parts = [
            self.title or "",
            self.text or "",
            self.link or "",
            self.image_path or "",
            self.image_alt or "",
            self.scheduled_at.isoformat(),
            self.audience or "",
            self.focus_area or "",
        ]
        if self.link_from:  # only then: every other post keeps the hash it was approved with
            parts.append(f"link_from:{self.link_from}")
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass
class PlanChanges:
    """What a plan run changed, so the officer sees exactly what happened."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    back_to_draft: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    locked: list[str] = field(default_factory=list)  # edited, but already published or running
    kept_cancelled: list[str] = field(default_factory=list)  # edited, but cancelled by a person


class PostsFailLint(LintError):
    """Rendered posts break channel rules; `problems` has one located line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"{len(problems)} post(s) fail lint; nothing was planned:\n  " + "\n  ".join(problems)
        )


@dataclass(frozen=True)
class Undated:
    """A campaign whose rule gives no date in the year: why, and what to add (in `error`)."""

    slug: str
    year: int
    error: DateRuleError

    def describe(self, outcome: str) -> str:
        """E.g. "x has no date in 2029, so it is not planned: x.toml:9: … (add …)"."""
        return f"{self.slug} has no date in {self.year}, so {outcome}: {self.error}"


@dataclass
class YearPlan:
    """The posts of a year, and the campaigns left out because they have no date that year."""

    selected: list[str]  # the campaigns asked for
    posts: list[PlannedPost] = field(default_factory=list)
    undated: list[Undated] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # lint warnings, located like problems

    @property
    def dated(self) -> list[str]:
        """The campaigns asked for that have a date this year: the ones to sync."""
        left_out = {u.slug for u in self.undated}
        return [slug for slug in self.selected if slug not in left_out]


def build_posts(
    settings: Settings,
    campaigns: CampaignSet,
    year: int,
    slugs: Iterable[str] | None = None,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[PlannedPost]:
    """Every post of `year`; a campaign without a date that year raises its DateRuleError."""
    found = build_year(settings, campaigns, year, slugs, progress=progress)
    if found.undated:
        raise found.undated[0].error
    return found.posts


def build_year(
    settings: Settings,
    campaigns: CampaignSet,
    year: int,
    slugs: Iterable[str] | None = None,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> YearPlan:
    """Render and lint every post of `year`; raise PostsFailLint listing every problem found.

    A campaign whose rule gives no date this year (an `explicit` rule without the year, a
    `valid` rule that ended) is left out and listed in `undated`, so one campaign does not
    stop the others; a rule that cannot be read at all is an error when the files are loaded.
    A plan renders thousands of posts from a few steps, so what depends only on the step and
    channel (`_StepChannel`) or on the occurrence and step (the instant) is worked out once,
    not per post.
    """
    renderer = TemplateRenderer(settings.templates_dir)
    selected = [campaigns.get(s) for s in slugs] if slugs else list(campaigns)
    result = YearPlan([spec.slug for spec in selected])
    posts = result.posts
    problems: list[str] = []
    brand = settings.brand
    images: dict[Path, str | None] = {}  # each image file is checked once a run
    moments: dict[tuple[date, time], _When] = {}  # and each local time resolved once
    for number, spec in enumerate(selected, start=1):
        if progress:
            progress(f"rendering {spec.slug} {year}", number, len(selected))
        try:
            schedule = _schedule(campaigns, spec, year)
        except DateRuleError as exc:
            result.undated.append(Undated(spec.slug, year, exc))
            continue
        for step in spec.steps:
            _check_image(settings, spec, step, images)
        per_step = {}
        for step in spec.steps:
            image = spec.image_path(step)  # once per step, not per channel
            shown = str(image) if image else None
            per_step[step.name] = [
                _StepChannel.of(settings, spec, step, name, shown) for name in step.channels
            ]
        problems += link_from_problems(settings, spec)
        for occurrence, step in schedule:
            targets = per_step[step.name]
            when = _when(settings, step, occurrence, moments)
            for target in targets:
                post, links = _build_one(renderer, spec, step, target, year, occurrence, when)
                # counted with a page address of a usual length for the one not out yet
                linted = link_placeholder.for_lint(post.text) if post.link_from else post.text
                found = lint_post(
                    text=linted,
                    links=links if linted is post.text else None,
                    title=post.title,
                    channel_type=post.channel_type,
                    image=post.image_path,
                    alt=post.image_alt,
                    brand=brand,
                    readability=settings.readability,
                )
                if found:
                    where = f"{spec.path}:{step.line}" if step.line else str(spec.path)
                    problems += [f"{where}: {post.plan_key}: {p.message}" for p in errors_of(found)]
                    advice = tuple(p.message for p in warnings_of(found))
                    if advice:
                        post = replace(post, warnings=advice)
                        result.warnings += [f"{where}: {post.plan_key}: {a}" for a in advice]
                posts.append(post)
    if problems:
        raise PostsFailLint(problems)
    return result


def link_from_problems(settings: Settings, spec: CampaignSpec) -> list[str]:
    """Steps whose `link_from` names a channel with no public address to link to, located.

    The campaign file itself checked that the step and channel exist and come earlier; what
    the channel is, and whether what it publishes has an address, is the config's to say.
    """
    problems = []
    for step in spec.steps:
        source = step.link_from
        if source is None or source.channel not in settings.channels:
            continue  # an unconfigured channel is reported as such (validate, _StepChannel)
        why = receipt_url_problem(settings.channel(source.channel))
        if why is not None:
            where = f"{spec.path}:{source.line or step.line}"
            problems.append(
                f"{where}: step {step.name!r} cannot link to {source}: {why} "
                "(link to a step on the site, WordPress or a social channel)"
            )
    return problems


def _schedule(
    campaigns: CampaignSet, spec: CampaignSpec, year: int
) -> list[tuple[Occurrence, StepSpec]]:
    """Each (occurrence, step) of the year: the campaign's own occurrences for its steps, and
    for a step with its own `event`, each date that campaign's event gives (`event:SLUG`)."""
    occurrences = campaigns.occurrences(spec.slug, year)
    own = [step for step in spec.steps if step.event is None]
    pairs = [(occurrence, step) for occurrence in occurrences for step in own]
    for step in spec.steps:
        if step.event is not None:
            dates = campaigns.event_dates(step.event, year)
            pairs += [(Occurrence(d, d, d), step) for d in dates]
    return pairs


@dataclass(frozen=True)
class _StepChannel:
    """What one step on one channel shares across occurrences: the same for every post."""

    listed: str  # the channel as the step lists it: plan_key, Post.channel, utm_source
    name: str
    type: str
    link: str | None
    image_path: str | None
    title_origin: str
    campaign: dict[str, Any]
    step: dict[str, Any]
    channel: dict[str, str]
    utm: dict[str, Any]

    @classmethod
    def of(
        cls,
        settings: Settings,
        spec: CampaignSpec,
        step: StepSpec,
        channel_name: str,
        image_path: str | None,
    ) -> _StepChannel:
        """`image_path`: str(spec.image_path(step)), or None for a step without an image."""
        channel = settings.channel(channel_name)
        utm: dict[str, Any] = {
            "domains": settings.utm.domains,
            "source": channel_name,
            "medium": settings.utm.medium,
            "campaign": spec.slug,
        }
        raw_link = step.link or spec.variables.get("link")
        link = tag_url(str(raw_link), **utm) if raw_link else None
        if step.link_from is not None:  # the page's address, filled in once it is out
            link = link_placeholder.placeholder(step.link_from.step, step.link_from.channel)
        return cls(
            listed=channel_name,
            name=channel.name,
            type=channel.type,
            link=link,
            image_path=image_path,
            title_origin=f"{spec.path} ({step.name})",
            campaign={
                "slug": spec.slug,
                "title": spec.title,
                "focus_area": spec.focus_area,
                "description": spec.description,
            },
            step={
                "name": step.name,
                "audience": step.audience,
                "offset_days": step.offset_days,
                "event": step.event,
            },
            channel={"name": channel.name, "type": channel.type},
            utm=utm,
        )


def _check_image(
    settings: Settings, spec: CampaignSpec, step: StepSpec, checked: dict[Path, str | None]
) -> None:
    """Refuse a step whose image would publish something that is not a picture of the folder.

    `checked` holds the problems of the files checked already in this run (None: none).
    """
    image = spec.image_path(step)
    if image is None:
        return
    if image not in checked:
        checked[image] = image_problem(image, settings.campaigns_dir)
    if problem := checked[image]:
        raise CampaignError(
            problem, path=spec.path, line=step.line, hint="see docs/campaigns.md, Images"
        )


@dataclass(frozen=True)
class _When:
    """When a step of one occurrence goes out: the same for every channel of the step."""

    day: date
    utc: datetime
    local: datetime
    dst_adjusted: bool
    local_time: str


def _when(
    settings: Settings,
    step: StepSpec,
    occurrence: Occurrence,
    resolved_before: dict[tuple[date, time], _When],
) -> _When:
    """When the step of this occurrence goes out; `resolved_before` keeps each day and time
    worked out in this run (the same for every campaign with a step then)."""
    anchor = occurrence.end if step.anchor == "end" else occurrence.start
    day = anchor + timedelta(days=step.offset_days)
    if step.align is not None:
        day = step.align.apply(day)
    key = (day, step.time)
    found = resolved_before.get(key)
    if found is None:
        found = resolved_before[key] = _resolve_when(settings, day, step.time)
    return found


def _resolve_when(settings: Settings, day: date, at: time) -> _When:
    resolved = local_to_utc(day, at, settings.zone)
    return _When(
        day=day,
        utc=resolved.utc,
        local=resolved.utc.astimezone(settings.zone),
        dst_adjusted=resolved.dst_adjusted,
        local_time=f"{day.isoformat()} {at.strftime('%H:%M')}",
    )


def _build_one(
    renderer: TemplateRenderer,
    spec: CampaignSpec,
    step: StepSpec,
    target: _StepChannel,
    year: int,
    occurrence: Occurrence,
    when: _When,
) -> tuple[PlannedPost, tuple[tuple[int, int], ...]]:
    """The post, and where the links of its text are (text.url_spans)."""
    local_at = when.local
    # fresh dicts per post: a template may not see (or change) another post's values
    context = {
        **spec.variables,
        "campaign": dict(target.campaign),
        "event": {
            "date": occurrence.date,
            "start": occurrence.start,
            "end": occurrence.end,
            "year": year,
        },
        "post": {"date": local_at.date(), "time": local_at.time(), "at": local_at},
        "step": dict(target.step),
        "channel": dict(target.channel),
        "audience": step.audience,
        "link": target.link,
    }
    title_source = step.title or spec.title
    title = renderer.render_string(title_source, context, origin=target.title_origin)
    context["title"] = title
    text = renderer.render(
        step.template,
        channel_name=target.name,
        channel_type=target.type,
        audience=step.audience,
        context=context,
    )
    text, links = add_utm_and_links(text, **target.utm)
    occurrence_key = f"{spec.slug}/{year}/{occurrence.date.isoformat()}"
    source = step.link_from
    post = PlannedPost(
        plan_key=f"{occurrence_key}/{step.name}/{target.listed}",
        campaign=spec.slug,
        focus_area=spec.focus_area,
        year=year,
        occurrence=occurrence.date,
        step=step.name,
        audience=step.audience,
        channel=target.listed,
        channel_type=target.type,
        title=title,
        text=text,
        link=target.link,
        image_path=target.image_path,
        image_alt=step.alt,
        scheduled_at=when.utc,
        local_time=when.local_time,
        dst_adjusted=when.dst_adjusted,
        link_from=f"{occurrence_key}/{source.step}/{source.channel}" if source else None,
    )
    return post, links


REMOVED_NOTE = "removed from the campaign file"  # last_error of a post plan cancelled itself


def sync(
    session: Session,
    planned: list[PlannedPost],
    *,
    year: int,
    campaigns: Iterable[str],
    require_approval: bool,
    actor: str,
    dry_run: bool = False,
) -> PlanChanges:
    """Bring the queue in line with `planned` for these campaigns and year.

    With `dry_run` the changes are worked out and reported but nothing is written.
    """
    slugs = sorted(set(campaigns))
    # a planned post always has its plan_key (the column is optional for other sources)
    existing = cast(
        dict[str, Post],
        {
            post.plan_key: post
            for post in session.exec(
                select(Post).where(
                    col(Post.source) == "plan",
                    col(Post.year) == year,
                    col(Post.campaign).in_(slugs),
                )
            ).all()
        },
    )
    work = diff(existing, planned, require_approval=require_approval, actor=actor)
    if not dry_run:
        _apply(session, work, actor)
        _link_sources(session, planned, existing.values())
    return work.changes


def _link_sources(session: Session, planned: list[PlannedPost], existing: Iterable[Post]) -> None:
    """Point each post of a `link_from` step at the post whose page it links to, by id.

    Both are planned in the same run (same occurrence, earlier step), so this runs after the
    inserts, when every id is known. A post whose step lost its `link_from` is unlinked. Only
    posts plan may still rewrite are touched (a published post keeps the link it went out with).
    """
    wanted = {item.plan_key: item.link_from for item in planned if item.link_from}
    linked = {post.plan_key for post in existing if post.link_from_post_id is not None}
    keys = sorted(set(wanted) | set(wanted.values()) | {k for k in linked if k})
    if not keys:
        return
    rows: dict[str, tuple[int, int | None, str]] = {}
    for start in range(0, len(keys), 500):  # stay under the bound-parameter limit
        for key, post_id, source_id, state in session.execute(
            sa.select(
                col(Post.plan_key), col(Post.id), col(Post.link_from_post_id), col(Post.state)
            ).where(col(Post.plan_key).in_(keys[start : start + 500]))
        ).all():
            rows[key] = (post_id, source_id, state)
    changes: dict[int, int | None] = {}
    for key in set(wanted) | linked:
        if key not in rows:
            continue
        post_id, current, state = rows[key]
        source = wanted.get(key)
        want = rows[source][0] if source in rows else None
        if want != current and state in EDITABLE_STATES:
            changes[post_id] = want
    set_link_sources(session, changes)


@dataclass
class PlanWork:
    """What a plan run would write: the changes to report and the rows behind them."""

    changes: PlanChanges
    new_posts: list[PlannedPost]  # each inserted with the values in `new_values`
    updates: list[tuple[Post, dict, str]]  # (post, new values, campaign)
    removals: list[Post]
    new_values: dict[str, Any] = field(default_factory=dict)  # what every new post has


def diff(
    existing: dict[str, Post],
    planned: list[PlannedPost],
    *,
    require_approval: bool,
    actor: str,
) -> PlanWork:
    """Compare the queue's posts (by plan key) with the planned ones; writes nothing.

    A post a person cancelled stays cancelled, whatever changed in its file: it is reported
    as left alone when its text or time would have changed. A post plan cancelled because
    its step was removed comes back (as a draft when approval is required) if the step does.
    """
    existing = dict(existing)
    changes = PlanChanges()
    now = utcnow()
    initial_state = PostState.DRAFT if require_approval else PostState.QUEUED
    new_values = {
        "source": "plan",
        "state": initial_state,
        "created_at": now,
        "updated_at": now,
        "approved_by": None if require_approval else actor,
        "approved_at": None if require_approval else now,
    }
    work = PlanWork(changes, [], [], [], new_values)
    for item in planned:
        current = existing.pop(item.plan_key, None)
        if current is None:
            work.new_posts.append(item)
            changes.added.append(item.plan_key)
            continue
        fields = _fields(item)
        same = current.content_hash == fields["content_hash"]
        if current.state == PostState.CANCELLED and current.last_error != REMOVED_NOTE:
            if same:
                changes.unchanged += 1
            else:
                changes.kept_cancelled.append(item.plan_key)
            continue
        if same and current.state != PostState.CANCELLED:
            changes.unchanged += 1
            continue
        if current.state not in (*EDITABLE_STATES, PostState.CANCELLED):
            if not same:
                changes.locked.append(f"{item.plan_key} ({current.state})")
            else:
                changes.unchanged += 1
            continue
        values = {**fields, "updated_at": now}
        if current.state == PostState.CANCELLED:
            values["last_error"] = None
        if require_approval and current.state in (PostState.QUEUED, PostState.CANCELLED):
            values.update(state=PostState.DRAFT, approved_by=None, approved_at=None)
            changes.back_to_draft.append(item.plan_key)
        elif current.state == PostState.CANCELLED:
            values.update(state=initial_state)
        work.updates.append((current, values, item.campaign))
        changes.updated.append(item.plan_key)
    for key, post in existing.items():
        if post.state in EDITABLE_STATES:
            work.removals.append(post)
            changes.removed.append(key)
    return work


def _apply(session: Session, work: PlanWork, actor: str) -> None:
    """Write what `diff` worked out, with an audit event for every post touched."""
    events: list[dict] = []
    for post, values, campaign in work.updates:
        replan(session, post, values)
        events.append(
            {"actor": actor, "action": "plan:update", "post_id": post.id, "campaign": campaign}
        )
    now = utcnow()
    for post in work.removals:
        cancel_removed(session, post, now=now, note=REMOVED_NOTE)
        events.append(
            {"actor": actor, "action": "plan:remove", "post_id": post.id, "campaign": post.campaign}
        )
    new_posts = work.new_posts
    if new_posts:
        connection = session.connection()
        idempotency_keys = new_keys(len(new_posts))
        if connection.dialect.name == "sqlite":
            added = _insert_sqlite(connection, new_posts, work.new_values, idempotency_keys)
        else:
            rows = [
                {**_fields(item), **work.new_values, "plan_key": item.plan_key}
                | {"idempotency_key": key}
                for item, key in zip(new_posts, idempotency_keys, strict=True)
            ]
            session.execute(sa.insert(Post), rows)
            keys = [item.plan_key for item in new_posts]
            added = []
            for start in range(0, len(keys), 500):  # stay under the bound-parameter limit
                added += session.execute(
                    sa.select(col(Post.id), col(Post.campaign)).where(
                        col(Post.plan_key).in_(keys[start : start + 500])
                    )
                ).all()
        events += [
            {"actor": actor, "action": "plan:add", "post_id": pid, "campaign": c}
            for pid, c in added
        ]
    audit.record_many(session, events)


# Columns a new planned post is inserted with; every other column is NULL (or `attempts`, 0).
_NEW_POST_COLUMNS = (
    "plan_key",
    "source",
    "campaign",
    "focus_area",
    "year",
    "occurrence",
    "step",
    "audience",
    "channel",
    "title",
    "text",
    "link",
    "image_path",
    "image_alt",
    "content_hash",
    "scheduled_at",
    "local_time",
    "dst_adjusted",
    "state",
    "approved_by",
    "approved_at",
    "idempotency_key",
    "attempts",
    "created_at",
    "updated_at",
)


def _insert_sqlite(
    connection: sa.Connection,
    posts: list[PlannedPost],
    shared: dict[str, Any],
    idempotency_keys: list[str],
) -> list[tuple[int, str]]:
    """Insert new posts with the DB-API executemany; (id, campaign) of each.

    SQLAlchemy's per-value type conversion would be most of `sync` for a large plan. This
    writes on the session's own connection, so in the same transaction,
    with the values in the form SQLAlchemy's SQLite types store: naive UTC datetimes as
    "YYYY-MM-DD HH:MM:SS.ffffff" (models.UTCDateTime), dates as "YYYY-MM-DD", booleans 0/1.
    `shared` holds what every new post has (`PlanWork.new_values`), converted once; a time
    shared by several posts (one step on several channels) is converted once too.
    Our transaction holds SQLite's write lock (BEGIN IMMEDIATE), so every id above the largest
    one before the insert is one of ours: one range query finds them all.
    """
    table = table_of(Post)
    columns = [table.c[name].name for name in _NEW_POST_COLUMNS]  # fails loudly on a rename
    sql = insert_sql(table, dict.fromkeys(columns, "?"))
    source, state, approved_by = shared["source"], shared["state"], shared["approved_by"]
    approved_at = sqlite_time_or_none(shared["approved_at"])
    created_at = sqlite_time_or_none(shared["created_at"])
    updated_at = sqlite_time_or_none(shared["updated_at"])
    stamps: dict[datetime, str] = {}
    days: dict[date, str] = {}
    values = []
    for item, key in zip(posts, idempotency_keys, strict=True):
        scheduled = stamps.get(item.scheduled_at)
        if scheduled is None:
            scheduled = stamps[item.scheduled_at] = sqlite_time(item.scheduled_at)
        day = days.get(item.occurrence)
        if day is None:
            day = days[item.occurrence] = item.occurrence.isoformat()
        values.append(
            (
                item.plan_key,
                source,
                item.campaign,
                item.focus_area,
                item.year,
                day,
                item.step,
                item.audience,
                item.channel,
                item.title,
                item.text,
                item.link,
                item.image_path,
                item.image_alt,
                item.content_hash,
                scheduled,
                item.local_time,
                1 if item.dst_adjusted else 0,
                state,
                approved_by,
                approved_at,
                key,
                0,
                created_at,
                updated_at,
            )
        )
    with raw_cursor(connection) as cursor:
        (before,) = cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table.name}").fetchone()
        cursor.executemany(sql, values)
        return cursor.execute(
            f"SELECT id, campaign FROM {table.name} WHERE id > ? ORDER BY id", (before,)
        ).fetchall()


def _fields(item: PlannedPost) -> dict:
    return {
        "campaign": item.campaign,
        "focus_area": item.focus_area,
        "year": item.year,
        "occurrence": item.occurrence,
        "step": item.step,
        "audience": item.audience,
        "channel": item.channel,
        "title": item.title,
        "text": item.text,
        "link": item.link,
        "image_path": item.image_path,
        "image_alt": item.image_alt,
        "scheduled_at": item.scheduled_at,
        "local_time": item.local_time,
        "dst_adjusted": item.dst_adjusted,
        "content_hash": item.content_hash,
    }
