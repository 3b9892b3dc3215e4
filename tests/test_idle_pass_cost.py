"""An idle daemon's pass costs the same with 200 or 20,000 posts queued for later.

The daemon runs a pass every tick for as long as it lives, mostly with nothing due. Each of its
statements must find its rows through an index and stop there: a statement that walks every
queued post (a minimum over all of them, a guard the planner took as the way in) makes every
tick of a busy year's queue cost a scan. The work is counted in SQLite's own virtual-machine
instructions, which do not depend on the machine's speed or load.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import event

from comms.publishing.daemon import Daemon
from comms.store.db import get_engine
from comms.store.models import utcnow
from tests.factories import add_post
from tests.seed import queue_future_posts


def instructions_of_a_pass(daemon: Daemon) -> int:
    """SQLite instructions of one pass and its wake-up question."""
    engine = get_engine(daemon.url)
    counted = [0]

    def count() -> int:
        counted[0] += 1
        return 0  # go on

    def on_connect(connection: sqlite3.Connection, _record: object) -> None:
        connection.set_progress_handler(count, 1)  # called at every instruction

    engine.dispose()  # the pooled connections are opened again, with the counter
    event.listen(engine, "connect", on_connect)
    try:
        result = daemon.run_once()
        daemon.next_wakeup()
    finally:
        event.remove(engine, "connect", on_connect)
        engine.dispose()
    assert result.published == 0  # nothing was due: an idle pass
    return counted[0]


@pytest.mark.parametrize("retrying", [False, True], ids=["planned", "with a retry waiting"])
def test_an_idle_pass_does_not_read_the_whole_queue(make_settings, retrying):
    settings = make_settings()
    url = settings.database_url
    if retrying:  # a failed try waits for its next attempt: the wake-up must see it
        add_post(
            url, due=utcnow() - timedelta(minutes=1), next_attempt_at=utcnow() + timedelta(hours=1)
        )
    daemon = Daemon(settings)
    queue_future_posts(url, 200, channel="stub")
    daemon.run_once()  # the first pass prepares what later passes reuse
    small = instructions_of_a_pass(daemon)
    queue_future_posts(url, 19_800, channel="stub", start=200)
    large = instructions_of_a_pass(daemon)
    # a hundred times the posts; reading each of them once would cost far more than this
    assert large < 2 * small, (small, large)
