"""`comms campaigns validate`: load every campaign, parse every template, render and lint every
post of the given years against the config, and collect every problem rather than the first.

A campaign whose rule gives no date in a year is a warning, as in `comms plan`: the other
campaigns are still checked, and the run succeeds."""

from __future__ import annotations

from dataclasses import dataclass, field

from comms.config import Settings
from comms.errors import CommsError


@dataclass
class ValidationReport:
    """Every problem found, and how much was checked."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # campaigns without a date in a year
    lint_warnings: list[str] = field(default_factory=list)  # readability: shown, not failing
    campaigns: int = 0
    templates: int = 0
    posts: int = 0
    years: tuple[int, ...] = ()


def validate_all(settings: Settings, years: tuple[int, ...]) -> ValidationReport:
    """Check files, channel names, templates and rendered posts; never writes anything."""
    from comms.campaigns.images import image_problem
    from comms.campaigns.loader import CampaignSet
    from comms.content.render import TemplateRenderer
    from comms.plan import PostsFailLint, build_year, link_from_problems

    report = ValidationReport(years=years)
    renderer = TemplateRenderer(settings.templates_dir)
    syntax = renderer.check_syntax()
    report.errors += [str(e) for e in syntax]
    report.templates = (
        sum(1 for _ in settings.templates_dir.rglob("*.j2"))
        if settings.templates_dir.is_dir()
        else 0
    )
    try:
        campaigns = CampaignSet.load(settings.campaigns_dir)
    except CommsError as exc:
        report.errors += str(exc).splitlines()
        return report
    report.campaigns = len(campaigns)
    for spec in campaigns:
        for step in spec.steps:
            for name in step.channels:
                if name not in settings.channels:
                    known = ", ".join(sorted(settings.channels))
                    report.errors.append(
                        f"{spec.path}:{step.line}: step {step.name!r} names "
                        f"channel {name!r}, which is not configured "
                        f"(configured: {known})"
                    )
            image = spec.image_path(step)
            if image is not None and (problem := image_problem(image, settings.campaigns_dir)):
                report.errors.append(f"{spec.path}:{step.line}: {problem}")
        report.errors += link_from_problems(settings, spec)
    if report.errors:
        return report
    for year in years:
        for spec in campaigns:
            try:
                found = build_year(settings, campaigns, year, [spec.slug])
            except PostsFailLint as exc:
                report.errors += [f"{year}: {problem}" for problem in exc.problems]
            except CommsError as exc:
                report.errors.append(f"{year}: {exc}")
            else:
                report.posts += len(found.posts)
                report.warnings += [u.describe("its posts are not checked") for u in found.undated]
                report.lint_warnings += [f"{year}: {line}" for line in found.warnings]
    return report
