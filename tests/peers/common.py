"""What the peer fixtures share: running a start script until its ready line, stopping it, and
skipping (or, under CI, failing) when the real service cannot be had.

Each peer (WordPress, a Bluesky PDS) has its own start script, ready line and checks; the way a
script is run in its own process group, read without blocking past its timeout and ended with
its whole group is the same, so it is written once here.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import struct
import subprocess
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path


def in_ci() -> bool:
    """CI=true: a peer test that cannot run is a failure there, not a skip."""
    return os.environ.get("CI", "").lower() == "true"


def run_until_ready(
    script: Path,
    *args: str,
    ready: re.Pattern[str],
    timeout: float,
    log: Path,
    unavailable: Callable[[str], None],
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[str], re.Match[str], float]:
    """Run `bash script args` in its own process group until a stdout line matches `ready`.

    Returns the process, the match and the seconds it took. No ready line within `timeout`
    (or the script ended first): the group is stopped and `unavailable` says why, with the last
    stdout lines and the stderr tail from `log`.
    """
    began = time.monotonic()
    process = subprocess.Popen(
        ["bash", str(script), *args],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        start_new_session=True,
        env=None if env is None else dict(env),
    )
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    seen: list[str] = []
    while time.monotonic() - began < timeout:
        if not selector.select(timeout=5):
            if process.poll() is not None:
                break
            continue
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip())
        match = ready.search(line)
        if match:
            return process, match, time.monotonic() - began
    stop(process)
    tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
    unavailable(
        f"{script} gave no ready line within {timeout:g} s "
        f"(exit {process.returncode}); stdout: {seen[-5:]}; stderr tail: {tail!r}"
    )
    raise AssertionError("unreachable")  # unavailable() always raises


def stop(process: subprocess.Popen[str]) -> None:
    """End a start script and what it serves: the process group the fixture created."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def png(width: int, height: int, pixel: bytes = b"\x80") -> bytes:
    """A real PNG filled with one colour: one byte is grey, three are RGB.

    Services read the image's size and refuse what is not a picture, so peers need real ones.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    colour = 0 if len(pixel) == 1 else 2  # PNG colour types: greyscale, truecolour
    rows = b"".join(b"\x00" + pixel * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
