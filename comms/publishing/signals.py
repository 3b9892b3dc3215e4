"""SIGTERM and Ctrl-C noted from the moment `comms daemon` starts.

The daemon's imports and schema check take seconds on a busy host; a stop asked for meanwhile
must still end in a clean exit 0, as one asked for later does, not in the signal's default (a
kill). Kept apart from daemon.py, whose imports are the slow part.
"""

from __future__ import annotations

import signal
import threading


def note_stop_signals() -> threading.Event:
    """From now on, SIGTERM or SIGINT sets the returned event (until someone handles them)."""
    asked = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: asked.set())
    return asked
