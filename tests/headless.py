"""The headless programs the browser and document tests drive, and scripts/screenshots.py too.

Chromium (Debian's, through Playwright) and LibreOffice are run the same way by the tests and
by the screenshot script, so the screenshots show what the tests checked: the flags live here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def libreoffice() -> str | None:
    """LibreOffice's command, under either of its names, or None when it is not installed."""
    return shutil.which("libreoffice") or shutil.which("soffice")


def docx_to_pdf(office: str, source: Path, outdir: Path, *, timeout: float) -> Path:
    """Convert with LibreOffice, its profile in `outdir` so runs never share or lock one."""
    profile = outdir / "lo-profile"
    subprocess.run(
        [
            office,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(outdir),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    return outdir / f"{source.stem}.pdf"
