"""Which files a campaign step may name as its image.

The image of a step is copied into the public site and uploaded to every channel of the step,
so "any file the daemon can read" is too much: a `../../comms.toml`, an absolute path or a
symlink out of the folder would publish whatever it points at, and an `.html` file copied into
the site would be a page on the municipality's own domain. An image lies inside the campaigns
folder (after symlinks are followed), is a PNG, JPEG, GIF or WebP by its content (Pillow reads
it, whatever the name says), has the suffix of that type, and is at most MAX_BYTES and
MAX_PIXELS, the same limits as an image uploaded in the workspace.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
SUFFIXES = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".gif": "GIF",
    ".webp": "WEBP",
}


def image_name_problem(name: str) -> str | None:
    """Why `name`, as written in a campaign file, is not a path below the file's folder."""
    if not name.strip():
        return "the image name is empty"
    if any(ord(ch) < 0x20 for ch in name):
        return "the image name contains control characters"
    if "\\" in name or PureWindowsPath(name).drive or PurePosixPath(name).is_absolute():
        return "write the path with / and relative to the campaign file, not from the disk's root"
    if ".." in PurePosixPath(name).parts:
        return "the path may not leave the campaigns folder (no ..)"
    return None


def image_problem(path: Path, root: Path) -> str | None:
    """Why the file at `path` may not be a post's image (English), or None when it may."""
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        return f"image {path} does not exist"
    except (OSError, RuntimeError) as exc:  # a symlink loop, a folder that cannot be read
        return f"image {path} cannot be read: {exc}"
    try:
        real.relative_to(root.resolve())
    except ValueError:
        return f"image {path} lies outside the campaigns folder {root} (a symlink out of it?)"
    return picture_problem(real, shown=path)


def picture_problem(path: Path, *, shown: Path | None = None) -> str | None:
    """Why the file at `path` is not a picture a post may carry, judged by its content (English),
    or None. Planning asks it through `image_problem`; the channels ask it again just before an
    upload, since the file may have been swapped in the months between plan and send.
    `shown` is the name to use in the message (the path as the campaign file wrote it)."""
    name = path if shown is None else shown
    if not path.is_file():
        return f"image {name} is not a file"
    size = path.stat().st_size
    if size > MAX_BYTES:
        return f"image {name} is {size // 1024} kB; at most {MAX_BYTES // (1024 * 1024)} MB"
    expected = SUFFIXES.get(path.suffix.lower())
    if expected is None:
        return f"image {name} must be .png, .jpg, .gif or .webp"
    from PIL import Image, UnidentifiedImageError  # only when there is a picture to read

    try:
        with Image.open(path) as probe:
            kind, pixels = probe.format, probe.width * probe.height
            probe.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return f"image {name} is not a PNG, JPEG, GIF or WebP picture that can be read"
    if kind != expected:
        return f"image {name} is a {kind} file but is named {path.suffix}: rename it"
    if pixels > MAX_PIXELS:
        return f"image {name} has {pixels} pixels; at most {MAX_PIXELS}"
    return None
