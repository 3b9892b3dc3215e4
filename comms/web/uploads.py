"""Uploaded images: checked by their content, decoded and saved again, kept outside any public
folder.

Only PNG, JPEG, GIF and WebP pass, up to MAX_BYTES and MAX_PIXELS. Pillow decodes the picture
and writes a new file from its pixels (PNG, or JPEG for photos), so nothing else that rode along
in the upload (metadata, a script after the image data, a second file) is kept. The name is
random; the original file name is never used as a path.
"""

from __future__ import annotations

import io
import re
import secrets
import shutil
import time
from pathlib import Path

from PIL import Image, UnidentifiedImageError

MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}


class UploadRefused(ValueError):
    """The upload is not an image we keep; the message says why, in Danish."""


def save_image(data: bytes, folder: Path) -> Path:
    """Check `data`, save the picture again in `folder`, and return the new file's path."""
    if not data:
        raise UploadRefused("Filen er tom.")
    if len(data) > MAX_BYTES:
        raise UploadRefused(f"Billedet er større end {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format
            probe.verify()
        if kind not in FORMATS:
            raise UploadRefused("Kun PNG, JPEG, GIF og WebP kan bruges.")
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise UploadRefused("Billedet har for mange pixels.")
            image.load()
            photo = kind == "JPEG"
            pixels = image.convert("RGB") if photo else image.convert("RGBA")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise UploadRefused("Filen er ikke et billede, der kan læses.") from None
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".jpg" if photo else ".png"
    path = folder / f"{secrets.token_hex(16)}{suffix}"
    if photo:
        pixels.save(path, "JPEG", quality=90)
    else:
        pixels.save(path, "PNG", optimize=True)
    return path


# --- a checked image kept while its form comes back with an error -----------------------------

PENDING = "pending"  # uploads_dir/pending/USER_ID/TOKEN: checked, not yet part of a post
PENDING_HOURS = 24
_TOKEN = re.compile(r"[0-9a-f]{32}\.(?:png|jpg)")


def keep_pending(data: bytes, folder: Path, user_id: int) -> str:
    """Check and save `data` for this user until the form is sent again; returns its token."""
    own = folder / PENDING / str(user_id)
    _forget_old(own)
    return save_image(data, own).name


def pending_file(token: str, folder: Path, user_id: int) -> Path | None:
    """The image kept under `token` for this user, or None (a token is never a path)."""
    if not _TOKEN.fullmatch(token):
        return None
    path = folder / PENDING / str(user_id) / token
    return path if path.is_file() else None


def adopt(pending: Path, folder: Path) -> Path:
    """Move a kept image into `folder`, where the post's images live."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.move(pending, folder / pending.name))


def _forget_old(own: Path) -> None:
    """Drop this user's kept images older than PENDING_HOURS (forms that were left)."""
    if not own.is_dir():
        return
    cutoff = time.time() - PENDING_HOURS * 3600
    for path in own.iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
