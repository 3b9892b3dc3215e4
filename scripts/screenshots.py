"""Screenshots of what people see: every page of the workspace (signed in), the HTML report,
the calendar file and a DOCX page.

    python scripts/screenshots.py OUT_DIR [--no-docx]

Builds a throw-away database in a temporary folder (10 years of seeded history and a planned
2027, from tests/seed.py, with accounts and a few posts that need a person), serves the
workspace with uvicorn on 127.0.0.1, signs in as an administrator and writes into OUT_DIR:

    web-login.png         the sign-in page
    web-overview.png      the overview (what needs me, the coming week)
    web-compose.png       composing a one-off post with X's own text, after "Tjek teksten"
    web-compose-errors.png  the compose form back with its errors beside the fields
    web-queue.png         the queue with its filters
    web-post.png          a Facebook post as it will look, with its actions
    web-post-x.png        an X post with a long link (X's own card and count)
    web-calendar.png      a month of the calendar with the move form
    web-calendar-week.png a week of the calendar, coloured by campaign
    web-calendar-feed.png the personal calendar address, shown once when it is made
    web-campaigns.png     the campaigns with their next dates
    web-campaign-year.png one campaign's year: the posts it plans
    web-channels.png      the channels (admin): status, paused, token expiry
    web-report.png        the report page with its period picker and charts
    web-users.png         the users admin page
    web-audit.png         the audit log
    web-error.png         the page for something that does not exist
    phone-overview.png    the overview at a phone's width
    phone-post.png        the Facebook post at a phone's width
    report.png            the HTML report for 2026 compared with 2025 (comms report --format html)
    calendar.png          the HTML month view of 2027 (comms calendar --format html)
    report-10-years.png   the HTML report over ten years
    docx-page-1.png       page 1 of the Word report (LibreOffice -> PDF -> pdftoppm)
    docx-page-3.png       the annex's first page

Needs Chromium (on the PATH, or $COMMS_CHROMIUM) driven by Playwright, and for the DOCX pages
libreoffice and poppler-utils. Nothing is fetched from the network.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.headless import CHROMIUM_ARGS, chromium, docx_to_pdf, libreoffice  # noqa: E402

IMAGE = ROOT / "campaigns" / "images" / "karneval.png"
PASSWORD = "skærmbilleder-til-dokumentationen"


# the channels that the repository's campaigns/ name, so their previews can be pictured
CAMPAIGN_CHANNELS = """
[channels.facebook]
type = "facebook"
page_id = "4"
token_env = "COMMS_SHOT_FB"

[channels.x]
type = "x"
token_env = "COMMS_SHOT_X"

[channels.linkedin]
type = "linkedin"
organization_id = "2414183"
token_env = "COMMS_SHOT_LI"
"""


def make_site(folder: Path):  # type: ignore[no-untyped-def]
    """Settings for a new database in `folder`, filled with 10 years of posts and a planned 2027."""
    from comms.config import load_settings
    from comms.store.db import ensure_schema
    from tests.seed import CHANNELS_TOML, seed_history, seed_planned

    config = folder / "comms.toml"
    channels = CHANNELS_TOML + '\n[channels.kommune-x]\ntype = "x"\ntoken_env = "COMMS_SHOT_X"\n'
    channels += CAMPAIGN_CHANNELS
    folders = f"campaigns_dir = {str(ROOT / 'campaigns')!r}\n"
    folders += f"templates_dir = {str(ROOT / 'templates')!r}\n"
    config.write_text(
        'timezone = "Europe/Copenhagen"\n'
        + folders
        + '[database]\nurl = "sqlite:///comms.db"\n'
        + with_organisations(channels),
        encoding="utf-8",
    )
    settings = load_settings(config)
    ensure_schema(settings.database_url)
    seed_history(settings.database_url, first_year=2017, years=10)
    seed_planned(settings.database_url, year=2027, image=str(IMAGE) if IMAGE.exists() else None)
    add_people_and_trouble(settings)
    return settings


def with_organisations(channels: str) -> str:
    """The seed's channels, each given to an organisation (politi-… to politi, the rest kommune)."""
    lines = []
    for line in channels.splitlines():
        lines.append(line)
        if line.startswith("[channels."):
            org = "politi" if line.startswith("[channels.politi") else "kommune"
            lines.append(f'organisation = "{org}"')
    return "\n".join(lines) + "\n"


def add_people_and_trouble(settings) -> None:  # type: ignore[no-untyped-def]
    """Accounts, and posts that need a person: rejected, failed, unknown, a long X link."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from comms import accounts
    from comms.store.db import session_scope
    from comms.store.models import ChannelState, Post

    with session_scope(settings.database_url) as session:
        accounts.add_user(session, "admin", PASSWORD, role="admin", actor="screenshots")
        for name, role, org in (
            ("anna", "approver", "kommune"),
            ("peter", "approver", "politi"),
            ("eva", "editor", "kommune"),
            ("vera", "viewer", None),
        ):
            accounts.add_user(session, name, PASSWORD, role=role, organisation=org, actor="admin")
        accounts.disable_user(session, "vera", actor="admin")
        drafts = session.exec(
            sa.select(Post.id).where(Post.state == "draft").order_by(Post.scheduled_at).limit(3)
        ).all()
        session.execute(
            sa.update(Post)
            .where(Post.id == drafts[0][0])
            .values(
                state="rejected", author="admin", review_comment="Datoen passer ikke med plakaten"
            )
        )
        session.execute(
            sa.update(Post)
            .where(Post.id == drafts[1][0])
            .values(state="failed", last_error="Facebook svarede 400: billedet er for stort")
        )
        session.execute(sa.update(Post).where(Post.id == drafts[2][0]).values(state="unknown"))
        session.add(
            Post(
                channel="kommune-x",
                title="Blå Mandag på X",
                text="Blå Mandag: gå hjem sammen, og pas på hinanden. Læs mere "
                + "https://www.aalborg.dk/tryg/blaa-mandag/"
                + "praktisk-information-om-aftenen/" * 4,
                scheduled_at=datetime(2027, 1, 25, 8, tzinfo=UTC),
                author="eva",
                state="draft",
            )
        )
        session.add(ChannelState(name="instagram", paused=True, paused_reason="Instagram: 401"))


def report_html(settings, start: str, end: str, compare: str | None = None) -> str:  # type: ignore[no-untyped-def]
    from datetime import date

    from comms.report import figures as reports
    from comms.report.charts import build_charts
    from comms.report.compare import compare as compare_reports
    from comms.report.compare import parse_period
    from comms.report.html import render_html

    types = {name: channel.type for name, channel in settings.channels.items()}
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    kwargs = {"zone": settings.zone, "channel_types": types}
    result = reports.build_report(settings.database_url, start=first, end=last, **kwargs)
    comparison = None
    if compare:
        a, b = parse_period(compare)
        earlier = reports.build_report(settings.database_url, start=a, end=b, **kwargs)
        comparison = compare_reports(result, earlier)
    points = reports.post_points(settings.database_url, start=first, end=last, zone=settings.zone)
    return render_html(result, build_charts(result, points), comparison)


def report_docx(settings, start: str, end: str, compare: str) -> bytes:  # type: ignore[no-untyped-def]
    from datetime import date

    from comms.report import figures as reports
    from comms.report.charts import build_charts
    from comms.report.compare import compare as compare_reports
    from comms.report.compare import parse_period
    from comms.report.docx import render_docx

    types = {name: channel.type for name, channel in settings.channels.items()}
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    kwargs = {"zone": settings.zone, "channel_types": types}
    result = reports.build_report(settings.database_url, start=first, end=last, **kwargs)
    a, b = parse_period(compare)
    earlier = reports.build_report(settings.database_url, start=a, end=b, **kwargs)
    points = reports.post_points(settings.database_url, start=first, end=last, zone=settings.zone)
    return render_docx(result, build_charts(result, points), compare_reports(result, earlier))


def docx_pages(docx: Path, out: Path, pages: tuple[int, ...]) -> list[Path]:
    """DOCX -> PDF with LibreOffice -> one PNG a page with pdftoppm."""
    office = libreoffice()
    if office is None or shutil.which("pdftoppm") is None:
        raise SystemExit(
            "needs libreoffice and pdftoppm (apt-get install libreoffice poppler-utils)"
        )
    pdf = docx_to_pdf(office, docx, docx.parent, timeout=180)
    written = []
    for page in pages:
        stem = out / f"docx-page-{page}"
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "80",
                "-f",
                str(page),
                "-l",
                str(page),
                "-singlefile",
                str(pdf),
                str(stem),
            ],
            check=True,
            timeout=60,
        )
        written.append(stem.with_suffix(".png"))
    return written


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder for the PNG files")
    parser.add_argument("--no-docx", action="store_true", help="skip the LibreOffice pages")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    from comms.report.calendar import calendar_entries, to_html
    from tests.web.live import serving

    executable = chromium()
    if executable is None:
        raise SystemExit("needs chromium on the PATH (apt-get install chromium) or $COMMS_CHROMIUM")
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        settings = make_site(folder)
        files = {
            "report": report_html(settings, "2026-01-01", "2026-12-31", "2025-01-01:2025-12-31"),
            "report-10-years": report_html(settings, "2017-01-01", "2026-12-31"),
            "calendar": to_html(
                calendar_entries(settings.database_url, year=2027, zone=settings.zone),
                year=2027,
                zone=settings.zone,
            ),
        }
        for name, html in files.items():
            (folder / f"{name}.html").write_text(html, encoding="utf-8")
        post_id = _first_post(settings.database_url, "kommune-facebook")
        x_id = _first_post(settings.database_url, "kommune-x")
        with serving(settings) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            files_page = browser.new_page(viewport={"width": 1100, "height": 900})
            for name, height in (("report", None), ("report-10-years", 2600), ("calendar", 2600)):
                written.append(
                    _shot(
                        files_page,
                        (folder / f"{name}.html").as_uri(),
                        args.out / f"{name}.png",
                        height,
                    )
                )
            desk = _signed_in(browser, base, width=1100)
            visitor = browser.new_page(viewport={"width": 1100, "height": 900})
            written.append(_shot(visitor, base + "/login?next=/", args.out / "web-login.png", 700))
            visitor.close()
            for name, path, height in (
                ("web-overview", "/", None),
                ("web-queue", "/queue?from=2027-01-01", 1400),
                ("web-post", f"/posts/{post_id}", None),
                ("web-post-x", f"/posts/{x_id}", None),
                ("web-calendar", "/calendar/2027/1", None),
                ("web-calendar-week", "/calendar/2027/uge/20", None),
                (
                    "web-report",
                    "/report?from=2026-01-01&to=2026-12-31"
                    "&compare_from=2025-01-01&compare_to=2025-12-31",
                    2600,
                ),
                ("web-campaigns", "/campaigns", None),
                ("web-campaign-year", "/campaigns/karneval/2027", 1500),
                ("web-channels", "/channels", None),
                ("web-users", "/users", None),
                ("web-audit", "/audit", 1400),
                ("web-error", "/posts/999999", 500),
            ):
                written.append(_shot(desk, base + path, args.out / f"{name}.png", height))
            written.append(_compose_shot(desk, base, args.out / "web-compose.png"))
            written.append(_compose_errors_shot(desk, base, args.out / "web-compose-errors.png"))
            written.append(_feed_shot(desk, base, args.out / "web-calendar-feed.png"))
            phone = _signed_in(browser, base, width=390)
            written.append(_shot(phone, base + "/", args.out / "phone-overview.png", None))
            written.append(
                _shot(phone, f"{base}/posts/{post_id}", args.out / "phone-post.png", None)
            )
            browser.close()
        if not args.no_docx:
            docx = folder / "status.docx"
            docx.write_bytes(
                report_docx(settings, "2026-01-01", "2026-12-31", "2025-01-01:2025-12-31")
            )
            written += docx_pages(docx, args.out, (1, 3))
    for path in written:
        print(path)
    return written


def _signed_in(browser, base: str, *, width: int):  # type: ignore[no-untyped-def]
    """A page of a new browser context, signed in as the administrator through the form."""
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="da-DK")
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("form.login button[type=submit]")
    return page


def _compose_shot(page, base: str, path: Path) -> Path:  # type: ignore[no-untyped-def]
    """The compose form filled in for two channels, after the server checked the text."""
    page.goto(base + "/compose")
    page.check('input[name=channel][value="kommune-facebook"]')
    page.check('input[name=channel][value="kommune-x"]')
    page.fill("#title", "Husk refleksen")
    page.fill(
        "#text",
        "Det er mørkt om morgenen: husk refleksen på vej til skole. "
        "https://www.aalborg.dk/tryg/refleks",
    )
    page.click('details[data-variant-for="kommune-x"] summary')
    page.fill(
        'details[data-variant-for="kommune-x"] textarea',
        "Husk refleksen i mørket #tryg https://www.aalborg.dk/tryg/refleks",
    )
    with page.expect_navigation():
        page.click('button[name=action][value="check"]')
    page.screenshot(path=str(path), full_page=True)
    return path


def _compose_errors_shot(page, base: str, path: Path) -> Path:  # type: ignore[no-untyped-def]
    """The compose form sent with mistakes: each message stands beside its field."""
    page.goto(base + "/compose")
    page.check('input[name=channel][value="kommune-x"]')
    page.fill("#text", "Blå Mandag: gå hjem sammen. " * 12)
    page.fill("#link", "ftp://aalborg.dk/tryg")
    page.check('input[name=when][value="time"]')
    page.fill("input[name=date]", "2020-01-01")
    page.fill("input[name=time]", "09:00")
    with page.expect_navigation():
        page.click('button[name=action][value="submit"]')
    page.screenshot(path=str(path), full_page=True)
    return path


def _feed_shot(page, base: str, path: Path) -> Path:  # type: ignore[no-untyped-def]
    """The calendar page's "make my address" button, and the address it shows once."""
    page.goto(base + "/calendar/2027/1")
    with page.expect_navigation():
        page.click('#feed-form button[value="create"]')
    page.screenshot(path=str(path), full_page=True)
    return path


def _shot(page, url: str, path: Path, height: int | None) -> Path:  # type: ignore[no-untyped-def]
    """Go to `url` and write a screenshot: the whole page, or the top `height` pixels."""
    page.goto(url)
    if height is None:
        page.screenshot(path=str(path), full_page=True)
    else:
        width = page.viewport_size["width"]
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(path))
        page.set_viewport_size({"width": width, "height": 900})
    return path


def _first_post(url: str, channel: str) -> int:
    from sqlmodel import select

    from comms.store.db import session_scope
    from comms.store.models import Post

    with session_scope(url) as session:
        post = session.exec(
            select(Post)
            .where(Post.state.in_(["queued", "draft"]), Post.channel == channel)
            .order_by(Post.scheduled_at)
        ).first()
        if post is None or post.id is None:
            raise SystemExit(f"the seed made no post on {channel}")
        return post.id


if __name__ == "__main__":
    main()
