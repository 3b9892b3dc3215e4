"""`comms import` streams: a big file's rows are read, checked and written batch by batch in one
transaction, so the memory it takes does not grow with the file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from comms.config import Settings

ROWS = 200_000
# SQLite's page cache during an import is capped at 16 MiB (write._IMPORT_CACHE_KIB); the rest
# is one batch of rows and the engine. Holding every row of this file, as the import once did,
# takes ~300 MiB; a 64 MiB page cache, ~90 MiB.
LIMIT_MIB = 50

CHILD = textwrap.dedent(
    """
    import csv, resource, sys
    from pathlib import Path
    from comms.config import load_settings
    from comms.importer.write import import_csv

    config, path, rows = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["channel", "published_at", "title", "url", "reach", "impressions", "engagements"]
        )
        for n in range(rows):
            writer.writerow([
                "facebook", f"2026-01-{1 + n % 28:02d} {n % 24:02d}:{n % 60:02d}",
                f"Opslag nummer {n} om tryghed", f"https://aalborg.dk/nyt/{n}",
                n % 30000, n % 50000, n % 500,
            ])
    settings = load_settings(config)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = import_csv(settings, path, actor="test")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(result.added, path.stat().st_size, (after - before) // 1024)
    """
)


@pytest.mark.slow
def test_a_big_import_takes_no_more_memory_than_one_batch(make_settings, tmp_path: Path):
    settings: Settings = make_settings()
    assert settings.path is not None
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(settings.path), str(tmp_path / "big.csv"), str(ROWS)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    added, size, grown_mib = map(int, done.stdout.split())
    assert added == ROWS
    assert size > 18_000_000  # ~100 bytes a row: many times the memory the import may grow by
    assert grown_mib < LIMIT_MIB, f"the import grew by {grown_mib} MiB"
