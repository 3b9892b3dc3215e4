"""Screenshots of what people see: the HTML report, the calendar, the web view and a DOCX page.

    python scripts/screenshots.py OUT_DIR [--no-docx]

Builds a throw-away database in a temporary folder (10 years of seeded history and a planned
2027, from tests/seed.py), then writes into OUT_DIR:

    report.png          the HTML report for 2026 compared with 2025 (comms report --format html)
    calendar.png        the HTML month view of 2027 (comms calendar --format html), first months
    web-queue.png       the web view's front page (comms serve: /)
    web-post.png        one queued post as it will look on Facebook (/posts/ID)
    web-report.png      the report in the web view (/report?from=…&to=…)
    report-10-years.png the HTML report over ten years
    docx-page-1.png     page 1 of the Word report (LibreOffice -> PDF -> pdftoppm)
    docx-page-3.png     the annex's first page

Needs Debian's chromium (driven by Playwright), and for the DOCX pages libreoffice and
poppler-utils. Nothing is fetched from the network.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.headless import CHROMIUM, CHROMIUM_ARGS, docx_to_pdf, libreoffice  # noqa: E402

IMAGE = ROOT / "campaigns" / "images" / "karneval.png"


def make_site(folder: Path):  # type: ignore[no-untyped-def]
    """Settings for a new database in `folder`, filled with 10 years of posts and a planned 2027."""
    from comms.config import load_settings
    from comms.store.db import ensure_schema
    from tests.seed import CHANNELS_TOML, seed_history, seed_planned

    config = folder / "comms.toml"
    config.write_text(
        'timezone = "Europe/Copenhagen"\n[database]\nurl = "sqlite:///comms.db"\n' + CHANNELS_TOML,
        encoding="utf-8",
    )
    settings = load_settings(config)
    ensure_schema(settings.database_url)
    seed_history(settings.database_url, first_year=2017, years=10)
    seed_planned(settings.database_url, year=2027, image=str(IMAGE) if IMAGE.exists() else None)
    return settings


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
    from comms.web import make_server

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
        server = make_server(settings, "127.0.0.1", 0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        post_id = _first_queued_facebook_post(settings.database_url)
        pages = [
            ("report.png", (folder / "report.html").as_uri(), None),
            ("report-10-years.png", (folder / "report-10-years.html").as_uri(), 2600),
            ("calendar.png", (folder / "calendar.html").as_uri(), 2600),
            ("web-queue.png", base + "/", 1100),
            ("web-post.png", f"{base}/posts/{post_id}", None),
            ("web-report.png", f"{base}/report?from=2026-01-01&to=2026-12-31", 2600),
        ]
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                for name, url, height in pages:
                    page.goto(url)
                    path = args.out / name
                    if height is None:
                        page.screenshot(path=str(path), full_page=True)
                    else:
                        page.set_viewport_size({"width": 1100, "height": height})
                        page.screenshot(path=str(path))
                        page.set_viewport_size({"width": 1100, "height": 900})
                    written.append(path)
                browser.close()
        finally:
            server.shutdown()
            server.server_close()
        if not args.no_docx:
            docx = folder / "status.docx"
            docx.write_bytes(
                report_docx(settings, "2026-01-01", "2026-12-31", "2025-01-01:2025-12-31")
            )
            written += docx_pages(docx, args.out, (1, 3))
    for path in written:
        print(path)
    return written


def _first_queued_facebook_post(url: str) -> int:
    from sqlmodel import select

    from comms.store.db import session_scope
    from comms.store.models import Post, PostState

    with session_scope(url) as session:
        post = session.exec(
            select(Post)
            .where(Post.state == PostState.QUEUED, Post.channel == "kommune-facebook")
            .order_by(Post.scheduled_at)
        ).first()
        if post is None or post.id is None:
            raise SystemExit("the seed made no queued Facebook post")
        return post.id


if __name__ == "__main__":
    main()
