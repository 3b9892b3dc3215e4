"""The headless programs the browser and document tests drive, and scripts/screenshots.py too.

Chromium (Debian's, through Playwright) and LibreOffice are run the same way by the tests and
by the screenshot script, so the screenshots show what the tests checked: the flags live here.
Chromium is found on the PATH, or where $COMMS_CHROMIUM says; no path of one machine is assumed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM_ENV = "COMMS_CHROMIUM"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str | None:
    """Chromium's executable: $COMMS_CHROMIUM when set, else `chromium` on the PATH (Debian's)."""
    found = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")
    return found or shutil.which("chromium-browser")


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
