"""The checks every adapter makes before it sends an image: the file is there, it is a picture
by its content, and it has alt text.

They run before anything is sent, so a post that would reach readers without a description (or
without its picture) is rejected up front, in the same words whichever service it is for. The
content check is the very one planning made (`comms.campaigns.images.picture_problem`): a file
swapped after planning (an HTML page, a script, an oversized or mislabelled file under the
planned name) is rejected, never uploaded, and a rejection is not retried.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from comms.campaigns.images import picture_problem
from comms.channels.base import OutgoingPost
from comms.errors import RejectedError, TransientError

SCREEN_READERS = ": a public web page needs one for screen readers"  # site and WordPress say so


def image_path(post: OutgoingPost, *, prefix: str = "") -> Path:
    """The post's image file; rejected when it does not exist or is no picture by its content."""
    path = Path(post.image_path or "")
    if not path.is_file():
        raise RejectedError(f"{prefix}image not found: {path}")
    problem = picture_problem(path)
    if problem is not None:
        raise RejectedError(f"{prefix}{problem}; nothing was uploaded")
    return path


def alt_text(post: OutgoingPost, path: Path, *, why: str = "", prefix: str = "") -> str:
    """The image's alt text, stripped; rejected when empty (`why` ends the message)."""
    alt = (post.image_alt or "").strip()
    if not alt:
        raise RejectedError(f"{prefix}image {path} has no alt text{why}")
    return alt


def checked_image(post: OutgoingPost, *, why: str = "", prefix: str = "") -> tuple[Path, str]:
    """The image file and its alt text, after both checks (the file first)."""
    path = image_path(post, prefix=prefix)
    return path, alt_text(post, path, why=why, prefix=prefix)


@contextmanager
def uploading(path: Path) -> Iterator[None]:
    """Around an image upload, which posts nothing: a retry is always safe, so a transient
    failure is never "maybe delivered", and a file that cannot be read is rejected."""
    try:
        yield
    except TransientError as exc:
        raise TransientError(str(exc), status=exc.status) from None
    except OSError as exc:
        raise RejectedError(f"cannot read image {path}: {exc.strerror or exc}") from None
