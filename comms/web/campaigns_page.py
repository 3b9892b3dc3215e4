"""Campaigns: the list with next dates, a year's preview, and planning a year after a preview.

The same engine as the CLI: `CampaignSet` as `comms campaigns list`, `build_posts` as
`comms campaigns preview`, and `plan.sync` as `comms plan`, first run and rolled back (as
`--dry-run` does) to show the changes, then run again only on a confirm POST. The confirm form
carries a digest of the changes shown; when the files changed in between, nothing is written
and the new changes are shown instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from starlette.responses import Response
from starlette.routing import Route

from comms.access import Action
from comms.campaigns.loader import CampaignSet, CampaignSpec
from comms.content.lint import text_length, text_limit
from comms.errors import CampaignError, CommsError, LintError
from comms.plan import PlanChanges, PlannedPost, build_posts, sync
from comms.report.render import TYPE_NAMES
from comms.web.context import Ctx, Refused, page

SHOWN_KEYS = 50  # changes listed by key per kind; the rest are counted
NEXT_DATES = 3
FIRST_YEAR, LAST_YEAR = 2000, 2100


def routes() -> list[Route]:
    return [
        Route("/campaigns", campaigns_list, methods=["GET"]),
        Route("/campaigns/plan", plan_preview, methods=["POST"]),
        Route("/campaigns/plan/confirm", plan_confirm, methods=["POST"]),
        Route("/campaigns/{slug:str}/{year:int}", campaign_year, methods=["GET"]),
    ]


@dataclass(frozen=True)
class Row:
    """One campaign in the list: what it is and when it next happens (or why it cannot tell)."""

    slug: str
    title: str
    focus_area: str
    steps: int
    next_dates: list[date]
    warnings: list[str]


@dataclass(frozen=True)
class Preview:
    """One post of a year's preview, as `comms campaigns preview` prints it."""

    post: PlannedPost
    kind_name: str
    length: int
    limit: int | None

    @property
    def too_long(self) -> bool:
        return self.limit is not None and self.length > self.limit


def _load(ctx: Ctx) -> CampaignSet:
    """The campaign folder, or a page listing every problem in its files."""
    try:
        return CampaignSet.load(ctx.settings.campaigns_dir)
    except CampaignError as exc:
        message = "Kampagnefilerne har fejl, der skal rettes først:\n" + str(exc)
        raise Refused(409, without_folders(ctx, message)) from exc


def without_folders(ctx: Ctx, text: str) -> str:
    """`text` with the server's folders taken off file names: a page names the file only."""
    settings = ctx.settings
    folders = [settings.campaigns_dir, settings.templates_dir]
    if settings.path is not None:
        folders.append(settings.path.parent)
    for folder in sorted({str(f) for f in folders}, key=len, reverse=True):
        text = text.replace(folder.rstrip("/") + "/", "")
    return text


def _today(ctx: Ctx) -> date:
    return ctx.now.astimezone(ctx.settings.zone).date()


def undated(exc: CampaignError, year: int) -> str:
    """The warning for a campaign whose date rule gives no date in `year`."""
    return f"Ingen dato i {year}: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")


def row_of(ctx: Ctx, campaigns: CampaignSet, spec: CampaignSpec) -> Row:
    """The campaign's next occurrences from today, this year and next, with any warnings."""
    today = _today(ctx)
    upcoming: list[date] = []
    warnings: list[str] = []
    for year in (today.year, today.year + 1):
        try:
            found = campaigns.occurrences(spec.slug, year)
        except CampaignError as exc:
            warnings.append(undated(exc, year))
            continue
        upcoming += [o.date for o in found if o.end >= today]
    return Row(
        slug=spec.slug,
        title=spec.title,
        focus_area=ctx.settings.focus_areas.get(spec.focus_area, spec.focus_area or ""),
        steps=len(spec.steps),
        next_dates=upcoming[:NEXT_DATES],
        warnings=warnings,
    )


def _year(value: str | int) -> int:
    try:
        year = int(value)
    except (TypeError, ValueError):
        raise Refused(400, "Skriv året som fire cifre, fx 2027.") from None
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise Refused(400, f"Året skal ligge mellem {FIRST_YEAR} og {LAST_YEAR}.")
    return year


@page
def campaigns_list(ctx: Ctx) -> Response:
    """GET /campaigns: every campaign with its focus area, steps and next dates."""
    ctx.require(Action.VIEW)
    today = _today(ctx)
    try:
        campaigns = CampaignSet.load(ctx.settings.campaigns_dir)
        rows, errors = [row_of(ctx, campaigns, spec) for spec in campaigns], []
    except CampaignError as exc:  # every problem of every file, so they can all be fixed
        rows, errors = [], without_folders(ctx, str(exc)).splitlines()
    return ctx.page(
        "campaigns.html",
        title="Kampagner",
        rows=rows,
        errors=errors,
        this_year=today.year,
        years=[today.year, today.year + 1],
        may_plan=bool(ctx.may(Action.PLAN)),
    )


def preview_posts(ctx: Ctx, campaigns: CampaignSet, slug: str, year: int) -> list[Preview]:
    """The year's posts of one campaign, rendered and linted, in time order."""
    posts = build_posts(ctx.settings, campaigns, year, [slug])
    return [
        Preview(
            post=p,
            kind_name=TYPE_NAMES.get(p.channel_type, p.channel_type),
            length=text_length(p.text, p.channel_type),
            limit=text_limit(p.channel_type),
        )
        for p in sorted(posts, key=lambda p: (p.scheduled_at, p.channel))
    ]


@page
def campaign_year(ctx: Ctx, slug: str, year: int) -> Response:
    """GET /campaigns/SLUG/YEAR: every post of the campaign that year, as it will go out."""
    ctx.require(Action.VIEW)
    year = _year(year)
    campaigns = _load(ctx)
    if slug not in campaigns:
        raise Refused(404, "Kampagnen findes ikke.")
    spec = campaigns.get(slug)
    posts: list[Preview] = []
    warning = problems = None
    try:
        posts = preview_posts(ctx, campaigns, slug, year)
    except CampaignError as exc:
        warning = undated(exc, year)
    except LintError as exc:
        problems = str(exc).splitlines()[1:]
    except CommsError as exc:  # a template that does not render
        problems = [str(exc)]
    return ctx.page(
        "campaign_year.html",
        title=f"{spec.title} {year}",
        spec=spec,
        year=year,
        focus_area=ctx.settings.focus_areas.get(spec.focus_area, spec.focus_area or ""),
        posts=posts,
        warning=warning,
        problems=[without_folders(ctx, p.strip()) for p in problems or []],
        may_plan=bool(ctx.may(Action.PLAN)),
    )


# --- planning ---------------------------------------------------------------------------------


def _selection(ctx: Ctx, campaigns: CampaignSet) -> tuple[int, list[str]]:
    """The year and campaigns of a plan form: one campaign, or every one when none is named."""
    year = _year(ctx.field("year"))
    slug = ctx.field("campaign").strip()
    if slug and slug not in campaigns:
        raise Refused(404, "Kampagnen findes ikke.")
    return year, [slug] if slug else [spec.slug for spec in campaigns]


def _run(ctx: Ctx, campaigns: CampaignSet, year: int, slugs: list[str]) -> PlanChanges:
    """`comms plan`'s sync in this request's transaction (the caller commits or rolls back)."""
    try:
        posts = build_posts(ctx.settings, campaigns, year, slugs)
    except CampaignError as exc:
        raise Refused(409, undated(exc, year)) from exc
    except CommsError as exc:  # lint or rendering: nothing is planned
        raise Refused(409, "Intet er planlagt, fordi opslagene har fejl:\n" + str(exc)) from exc
    return sync(
        ctx.db,
        posts,
        year=year,
        campaigns=slugs,
        require_approval=ctx.settings.require_approval,
        actor=ctx.user.username,
    )


def digest(changes: PlanChanges) -> str:
    """A fingerprint of the changes, so a confirm applies only what the person saw."""
    parts = [
        *(f"a:{k}" for k in changes.added),
        *(f"u:{k}" for k in changes.updated),
        *(f"b:{k}" for k in changes.back_to_draft),
        *(f"r:{k}" for k in changes.removed),
        *(f"l:{k}" for k in changes.locked),
    ]
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()


def _changes_page(
    ctx: Ctx,
    changes: PlanChanges,
    *,
    year: int,
    slug: str,
    applied: bool,
    notice: str | None = None,
) -> Response:
    kinds = [
        ("added", "tilføjes" if not applied else "tilføjet", changes.added),
        ("updated", "ændres" if not applied else "ændret", changes.updated),
        ("removed", "annulleres" if not applied else "annulleret", changes.removed),
        ("locked", "er allerede udgivet eller i gang og røres ikke", changes.locked),
    ]
    nothing = not (changes.added or changes.updated or changes.removed)
    what = slug or "alle kampagner"
    return ctx.page(
        "campaign_plan.html",
        title=f"Planlæg {what} {year}" if not applied else f"Planlagt: {what} {year}",
        year=year,
        slug=slug,
        applied=applied,
        nothing=nothing,
        kinds=[(key, verb, keys[:SHOWN_KEYS], len(keys)) for key, verb, keys in kinds if keys],
        back_to_draft=len(changes.back_to_draft),
        unchanged=changes.unchanged,
        digest=digest(changes),
        require_approval=ctx.settings.require_approval,
        notice=notice,
    )


@page
def plan_preview(ctx: Ctx) -> Response:
    """POST /campaigns/plan: what planning would change (run, then rolled back: a dry run)."""
    ctx.require(Action.PLAN)
    campaigns = _load(ctx)
    year, slugs = _selection(ctx, campaigns)
    changes = _run(ctx, campaigns, year, slugs)
    ctx.db.rollback()
    return _changes_page(ctx, changes, year=year, slug=ctx.field("campaign").strip(), applied=False)


@page
def plan_confirm(ctx: Ctx) -> Response:
    """POST /campaigns/plan/confirm: plan for real, if the changes are still those shown."""
    ctx.require(Action.PLAN)
    campaigns = _load(ctx)
    year, slugs = _selection(ctx, campaigns)
    slug = ctx.field("campaign").strip()
    changes = _run(ctx, campaigns, year, slugs)
    if digest(changes) != ctx.field("digest"):
        ctx.db.rollback()
        moved = "Ændringerne er ikke de samme som før (filerne eller køen er ændret). Se dem igen."
        return _changes_page(ctx, changes, year=year, slug=slug, applied=False, notice=moved)
    return _changes_page(ctx, changes, year=year, slug=slug, applied=True)
