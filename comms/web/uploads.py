"""Uploaded images: checked by their content, decoded and saved again, kept outside any public
folder.

Only PNG, JPEG, GIF and WebP pass, up to MAX_BYTES and MAX_PIXELS. Pillow decodes the picture
and writes a new file from its pixels (PNG, or JPEG for photos), so nothing else that rode along
in the upload (metadata, a script after the image data, a second file) is kept. The name is
random; the original file name is never used as a path.
"""

from __future__ import annotations

import io
import secrets
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
