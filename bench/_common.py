"""What every benchmark in bench/ shares: options, timing, medians and the RESULT line.

Machines are noisy, so each script measures its baseline in the same run, repeats both a few
times, and compares medians. The last line a script prints is machine-readable:

    RESULT <name> value=<figure> target=<target> ok=<true|false>

`--quick` is the smoke run CI uses (tests/test_bench_smoke.py): tiny sizes, one run, a few
seconds, still a RESULT line (its `ok` says nothing about performance at that size).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `comms` is installed editable; this is for `tests.fakes`
    sys.path.insert(0, str(ROOT))


def options(description: str, **extra: Any) -> argparse.Namespace:
    """--quick and --runs, plus script-specific options given as name=(type, default, help)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run for CI")
    parser.add_argument("--runs", type=int, default=None, help="repetitions (median is used)")
    for name, (kind, default, help_text) in extra.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=kind, default=default, help=help_text
        )
    return parser.parse_args()


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of fn takes (wall clock, monotonic)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_of(fn: Callable[[], Any], runs: int) -> tuple[float, list[float]]:
    """Median seconds over `runs` calls of fn, and every run's time."""
    times = [timed(fn) for _ in range(max(1, runs))]
    return statistics.median(times), times


def paired_ratio(
    subject: Callable[[], Any], baseline: Callable[[], Any], runs: int
) -> tuple[float, float, float]:
    """(median subject s, median baseline s, median of per-pair ratios), runs interleaved."""
    subject_times, baseline_times, ratios = [], [], []
    for _ in range(max(1, runs)):
        b = timed(baseline)
        s = timed(subject)
        subject_times.append(s)
        baseline_times.append(b)
        ratios.append(s / b if b > 0 else float("inf"))
    return (
        statistics.median(subject_times),
        statistics.median(baseline_times),
        statistics.median(ratios),
    )


def run_process(argv: Sequence[str], **kwargs: Any) -> float:
    """Seconds a child process takes from spawn to exit; it must exit 0."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def say(text: str) -> None:
    print(text, flush=True)


def result(name: str, value: float | str, target: str, ok: bool) -> None:
    """The last line of every benchmark: `RESULT <name> value=… target=… ok=true|false`."""
    shown = f"{value:.3g}" if isinstance(value, float) else str(value)
    say(f"RESULT {name} value={shown} target={target} ok={'true' if ok else 'false'}")


def comms_env(**extra: str) -> dict[str, str]:
    """The environment for child `comms` processes: no stray config, no debug."""
    env = {k: v for k, v in os.environ.items() if k not in ("COMMS_CONFIG", "COMMS_DEBUG")}
    env.update(extra)
    return env


def sqlite_copy_seconds(
    rows_from: Path, into: Path, tables: Sequence[str], *, indexes: bool = True
) -> float:
    """Seconds SQLite alone takes to write `tables`' rows of one database into a fresh one.

    The floor of writing these rows. Untimed: a new database `into` with comms' schema and its
    indexes (WAL, synchronous=NORMAL, a 64 MiB page cache: four times what comms' import takes, so
    the floor errs fast), and the rows (every column as stored, ids included, so a figure keeps its
    post) copied into an attached in-memory database. Timed: one `INSERT INTO t (columns) SELECT
    columns FROM memory` per table in one transaction, and the commit. The values reach SQLite
    without a Python call per row or value, so no writer of these rows, in any language, through any
    driver, can be faster with this schema. (The columns are named, so SQLite cannot use its
    table-to-table transfer shortcut, which copies stored records without building them; no writer
    of new rows has that.) With `indexes=False` the schema's secondary indexes are dropped first
    (the primary keys and the unique plan_key stay): the floor of any schema storing the same
    values.
    """
    from comms.store.db import dispose_all, ensure_schema

    ensure_schema(f"sqlite:///{into}")
    dispose_all()
    connection = sqlite3.connect(into, isolation_level=None)
    try:
        if not indexes:
            listed = "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            for (name,) in connection.execute(listed).fetchall():
                connection.execute(f"DROP INDEX {name}")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA cache_size=-65536")  # 64 MiB
        connection.execute("ATTACH DATABASE ':memory:' AS memory")
        connection.execute("ATTACH DATABASE ? AS source", (str(rows_from),))
        statements = []
        for table in tables:
            columns = ", ".join(
                row[1] for row in connection.execute(f"PRAGMA source.table_info({table})")
            )
            connection.execute(f"CREATE TABLE memory.{table} AS SELECT * FROM source.{table}")
            statements.append(
                f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM memory.{table}"
            )
        connection.execute("DETACH DATABASE source")
        start = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        for statement in statements:
            connection.execute(statement)
        connection.execute("COMMIT")
        seconds = time.perf_counter() - start
        for table in tables:  # untimed: the floor wrote every row it claims to have written
            (copied,) = connection.execute(f"SELECT count(*) FROM main.{table}").fetchone()
            (wanted,) = connection.execute(f"SELECT count(*) FROM memory.{table}").fetchone()
            assert copied == wanted > 0, (table, copied, wanted)
        return seconds
    finally:
        connection.close()
