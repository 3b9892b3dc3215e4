"""Kill points for crash tests: the daemon dies here, on purpose, when told to by env var.

`COMMS_KILL_AT=after_claim,before_call,after_call` with `COMMS_KILL_RATE=0.2` (default 1) makes
the process `os._exit(137)` (as SIGKILL would leave it: no cleanup, no commit) at those points.
Unset in production, each check is one dictionary look-up.
"""

from __future__ import annotations

import os
import random

KILL_POINTS = ("after_claim", "before_call", "after_call")
_points = {p.strip() for p in os.environ.get("COMMS_KILL_AT", "").split(",") if p.strip()}
_rate = float(os.environ.get("COMMS_KILL_RATE", "1"))


def kill_point(name: str) -> None:
    """Die here if this point is armed (and the dice say so)."""
    if name in _points and random.random() < _rate:
        os._exit(137)
