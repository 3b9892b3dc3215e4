"""The peer of bench/queue_vs_procrastinate: a procrastinate app with one no-op task.

A worker process runs `python -m _procrastinate_app URL` (with bench/ on the path): one worker
of the default concurrency (1), which stops once the queue is empty.
"""

from __future__ import annotations

import sys

import procrastinate


def make_app(conninfo: str) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))

    @app.task(name="noop")
    def noop() -> None:
        """Does nothing: the figure is the queue's own cost per job."""

    return app


if __name__ == "__main__":
    make_app(sys.argv[1]).run_worker(wait=False, install_signal_handlers=False)
