"""Erasure: one key erased from a snapshot table with 90 retained days, against rewriting the
partitions that hold it.

The table: 90 daily snapshot partitions of the long layout (40 columns; 100,000 rows each,
10,000 with ``--quick``); the key (one id) is in every one of them, as a person's record is
in every snapshot since it appeared: the erasure has to rewrite all 90.

- ``floor``: what the rewrite costs at least, knowing where the key is: for each partition,
  pyarrow reads the file, drops the key's rows and writes it back (a temporary file moved
  into place) with the encodings the project's writer chooses
  (:mod:`lbh_platform.storage.parquet_encoding`), nothing else.
- ``project``: ``lbh_platform.erasure.erase`` as the erase command runs it: it finds the
  partitions holding the key (reading the id column of every partition), rewrites each
  (atomically, footer kept), verifies no partition still holds it (the id column again) and
  writes its two audit entries.

Each run starts from a fresh copy of the table (copied outside the clock), in its own process;
floor and project alternate (three rounds, two with ``--quick``); a time is the best of its
runs. The target: project <= 2x floor.

Child usage: ``python -m bench.cases.erasure <variant> <table dir> <audit dir>``.
"""

import os
import shutil
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import best_of, child_main, run_child, stopwatch
from bench.data import ID, Generator, _day_us, long_layout

DAYS = 90
FIRST = date(2024, 1, 1)
KEY = 4242  # an id present in every snapshot
SALT = "bench-salt-0123456789abcdef"


def _prepare(root: Path, rows: int) -> dict[str, Any]:
    """Write the 90 snapshot partitions (one generated table, written 90 times)."""
    from lbh_platform.storage.partitioned_table import PartitionedTable, filesystem_for

    fs, base = filesystem_for(str(root))
    table = PartitionedTable(fs, base, "snapshot_date", str(root))
    ids = np.arange(1, rows + 1, dtype=np.int64)
    updated = _day_us(FIRST) - (ids % 400) * 86_400_000_000
    rows_table = Generator(20240101).rows(long_layout(), ids, updated, salt=0, day=FIRST)
    size = 0
    for n in range(DAYS):
        written = table.write((FIRST + timedelta(days=n)).strftime("%Y%m%d"), rows_table)
        size += written.bytes_written
    return {"rows": rows, "columns": rows_table.num_columns, "bytes": size}


def _floor(root: Path) -> dict[str, Any]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from lbh_platform.storage.parquet_encoding import dictionary_columns

    folders = sorted(p for p in root.iterdir() if p.name.startswith("snapshot_date="))
    with stopwatch() as clock:
        removed = 0
        for folder in folders:
            path = folder / "part-0.parquet"
            rows = pq.read_table(path)
            kept = rows.filter(pc.not_equal(rows[ID], KEY))
            removed += rows.num_rows - kept.num_rows
            temporary = folder / f"_tmp-{uuid.uuid4().hex}.parquet"
            dictionary = dictionary_columns(kept.schema, kept)
            pq.write_table(kept, temporary, compression="snappy", use_dictionary=dictionary)
            os.replace(temporary, path)
    return {"seconds": clock["seconds"], "rows_removed": removed, "partitions": len(folders)}


def _project(root: Path, audit_dir: Path) -> dict[str, Any]:
    from lbh_platform.erasure import AuditLog, KeySet, Locator, Request, TableTarget, erase
    from lbh_platform.storage.partitioned_table import PartitionedTable, filesystem_for

    fs, base = filesystem_for(str(root))
    table = PartitionedTable(fs, base, "snapshot_date", str(root))
    audit_fs, audit_base = filesystem_for(str(audit_dir))
    audit = AuditLog(audit_fs, audit_base, str(audit_dir))
    target = TableTarget("snapshot", table, Locator.of(ID))
    with stopwatch() as clock:
        report = erase(
            Request("bench", "snapshot", "bench"),
            [target],
            KeySet([str(KEY)]),
            audit=audit,
            salt=SALT,
        )
    return {
        "seconds": clock["seconds"],
        "rows_removed": report.rows_removed,
        "partitions": len(report.rewritten),
    }


def _child(argv: list[str]) -> dict[str, Any]:
    variant, root = argv[0], Path(argv[1])
    if variant == "prepare":
        return _prepare(root, int(argv[2]))
    if variant == "floor":
        return _floor(root)
    return _project(root, Path(argv[2]))


def run(ctx: Any) -> dict[str, Any]:
    rows, rounds = (10_000, 2) if ctx.quick else (100_000, 3)
    scratch = ctx.scratch / "erasure"
    master = scratch / "master"
    prepared = run_child("bench.cases.erasure", "prepare", str(master), str(rows), timeout=1500)
    if not prepared.ok:
        return {"ok": False, "error": prepared.error}
    data = prepared.data
    ctx.log(
        f"  {DAYS} snapshots x {data['rows']:,} rows x {data['columns']} columns "
        f"({data['bytes'] / 1e6:.0f} MB); one key in every snapshot"
    )
    runs: dict[str, list[dict[str, Any]]] = {"floor": [], "project": []}
    for _ in range(rounds):
        for variant, found in runs.items():
            work = scratch / "work"
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(master, work / "table")
            result = run_child(
                "bench.cases.erasure",
                variant,
                str(work / "table"),
                str(work / "audit"),
                timeout=1500,
            )
            if not result.ok:
                return {"ok": False, "error": f"{variant}: {result.error}"}
            if result.data["rows_removed"] != DAYS or result.data["partitions"] != DAYS:
                return {"ok": False, "error": f"{variant} removed {result.data}"}
            found.append({**result.data, "peak_mb": result.max_rss_mb})
            ctx.log(f"  {variant}: {result.data['seconds']:.2f}s")
    shutil.rmtree(scratch, ignore_errors=True)
    floor, project = best_of(runs["floor"]), best_of(runs["project"])
    return {
        "ok": True,
        "days": DAYS,
        "rows": data["rows"],
        "columns": data["columns"],
        "table_bytes": data["bytes"],
        "floor": floor,
        "project": project,
        "ratio": project["seconds"] / floor["seconds"],
    }


if __name__ == "__main__":
    child_main(_child)
