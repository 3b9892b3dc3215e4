"""What the adapter test modules build alike: their fakes as fixtures, posts, settings, files."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from comms.channels.base import OutgoingPost
from comms.channels.settings import ChannelSettings
from tests.channels.contract import Contract


def fixtures(contract: Contract, name: str = "fake") -> tuple[Any, Any]:
    """`server` (the contract's fake, started once per module) and `name` (it, reset per test).

    Stopping a fake costs half a second, so a module shares one and forgets it between tests.
    """

    @pytest.fixture(scope="module", name="server")
    def server() -> Iterator[Any]:
        with contract.fake() as running:
            yield running

    @pytest.fixture(name=name)
    def fake(server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
        return contract.prepare(server, monkeypatch)

    return server, fake


def key(prefix: str, post_id: int) -> str:
    """A stable idempotency key for a test post: the same id gives the same key."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{prefix}-{post_id}"))


def outgoing(post_id: int, defaults: dict[str, object], fields: dict[str, object]) -> OutgoingPost:
    """A post from a module's defaults with the test's own fields on top."""
    return OutgoingPost(post_id=post_id, **{**defaults, **fields})  # type: ignore[arg-type]


def settings(
    name: str, type: str, defaults: dict[str, object], options: dict[str, object]
) -> ChannelSettings:
    """A channel's settings from a module's default options with the test's own on top."""
    return ChannelSettings(name=name, type=type, options={**defaults, **options})


def write(folder: Path, name: str, data: bytes) -> Path:
    """A file with `data` in `folder` (an image a post carries)."""
    path = folder / name
    path.write_bytes(data)
    return path


def picture_bytes(kind: str = "PNG", *, size: tuple[int, int] = (2, 2), pad: int = 0) -> bytes:
    """A real picture (adapters check an image by its content before they upload it), of
    `size` pixels, with `pad` bytes after its end marker where a test needs a larger file."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 16, 46)).save(buffer, format=kind)
    return buffer.getvalue() + b"\x00" * pad


def picture(folder: Path, name: str, *, size: tuple[int, int] = (2, 2), pad: int = 0) -> Path:
    """A real picture file named `name`, of the type its suffix says."""
    kinds = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".webp": "WEBP"}
    data = picture_bytes(kinds[Path(name).suffix.lower()], size=size, pad=pad)
    return write(folder, name, data)
