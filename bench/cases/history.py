"""History at scale: a year of ``applications``-like snapshots rebuilt as one ranged run.

A reset rebuilds every day's snapshot since the first import, each on the one before. Here:
365 days of a wide table (50,000 rows x 750 columns: the simulator's ``applications`` field
layout, catalogue-typed), the first day a full load, every later day 0.5% of the rows changed
(four fifths updates, one fifth new ids). The increments are generated straight into the lake
(vectorised, outside the clock); then the snapshot asset of ``applications`` is materialised
for the 365 partitions in one run (``dagster/asset_partition_range_start/end`` tags, as a
backfill launches it; its ``id_unique`` check included) with ``execute_in_process`` on the full
definitions.

The floor for one day is what the day costs at least: pyarrow reading the previous day's
snapshot and writing it again (best of three, in the same process after the run). The result
is seconds per day against that floor, and the extrapolation to a full history since the first
import date (at the same table size: a table that grew would cost more per day).

The run keeps every day's snapshot (about 100 MB each, 35 GB for the year) until the end.

Child usage: ``python -m bench.cases.history <scratch dir> <days> <rows>``.
"""

import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.cases.history_phases import Phases, step_seconds
from bench.cases.orchestration import QUIET, prepare_environment, step_times
from bench.common import child_main, run_child, stopwatch
from bench.data import ID, Generator, _day_us, wide_layout
from lbh_platform.tascomi.locations import tascomi_table

TABLE = "applications"
FIRST = date(2023, 1, 1)
CHANGED = 0.005
NEW_SHARE = 0.2  # of a day's changes: new ids; the rest update existing rows
FULL_HISTORY_START = date(2021, 10, 1)  # the first import date (partitions start there)


def _increments(lake: Any, days: list[date], rows: int, seed: int = 20240312) -> int:
    """Day one: ``rows`` records; each later day ``CHANGED`` of them (updates and new ids)."""
    layout = wide_layout()
    generator = Generator(seed)
    rng = np.random.default_rng([seed, rows])
    increments = tascomi_table(lake, "increment", TABLE)
    day_us = 86_400 * 1_000_000
    first = generator.rows(
        layout,
        np.arange(1, rows + 1, dtype=np.int64),
        _day_us(days[0] - timedelta(days=400)) + rng.integers(0, 399 * day_us, rows),
        salt=0,
        day=days[0],
    )
    increments.write(days[0].strftime("%Y%m%d"), first)
    per_day = max(1, int(rows * CHANGED))
    new_per_day = max(1, int(per_day * NEW_SHARE))
    later = days[1:]
    # Every later day's changed ids, then their values for all days in one vectorised pass.
    next_id = rows + 1
    ids, updated = [], []
    for day in later:
        known = next_id - 1
        old = rng.choice(known, size=per_day - new_per_day, replace=False) + 1
        new = np.arange(next_id, next_id + new_per_day)
        next_id += new_per_day
        ids.append(np.concatenate([old, new]))
        start = _day_us(day - timedelta(days=1))
        updated.append(start + rng.integers(0, day_us, per_day))
    if later:
        values = generator.rows(
            layout, np.concatenate(ids), np.concatenate(updated), salt=1, day=later[0]
        )
        for n, day in enumerate(later):
            increments.write(day.strftime("%Y%m%d"), values.slice(n * per_day, per_day))
    return next_id - 1


def _floor(snapshots: Any, value: str) -> dict[str, float]:
    """Read one day's snapshot with pyarrow and write it again: best of three."""
    import pyarrow.parquet as pq

    path = f"{snapshots.partition_dir(value)}/part-0.parquet"
    best: dict[str, float] = {}
    for attempt in range(3):
        with stopwatch() as read:
            frame = pq.read_table(path)
        with stopwatch() as write:
            pq.write_table(frame, f"{path}.floor-{attempt}", compression="snappy")
        del frame
        Path(f"{path}.floor-{attempt}").unlink()
        if not best or read["seconds"] + write["seconds"] < best["seconds"]:
            best = {
                "seconds": read["seconds"] + write["seconds"],
                "read": read["seconds"],
                "write": write["seconds"],
            }
    return best


def _child(argv: list[str]) -> dict[str, Any]:
    scratch, days_text, rows_text = Path(argv[0]), int(argv[1]), int(argv[2])
    days = [FIRST + timedelta(days=n) for n in range(days_text)]
    prepare_environment(scratch)
    import dagster as dg

    from lbh_platform.settings import load_settings
    from lbh_platform.storage.lake import Lake

    settings = load_settings()
    lake = Lake({"raw": settings.raw_zone, "refined": settings.refined_zone})
    with stopwatch() as made:
        final_ids = _increments(lake, days, rows_text)

    from lbh_platform.definitions import defs

    key = dg.AssetKey(["tascomi", "snapshot", TABLE])
    job = defs.resolve_implicit_job_def_def_for_assets([key]).get_subset(asset_selection={key})
    instance = dg.DagsterInstance.get()
    snapshots = tascomi_table(lake, "snapshot", TABLE)
    phases = Phases()
    phases.install()
    started = time.perf_counter()
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config=QUIET,
        tags={
            "dagster/asset_partition_range_start": days[0].isoformat(),
            "dagster/asset_partition_range_end": days[-1].isoformat(),
        },
    )
    wall = time.perf_counter() - started
    phases.uninstall()
    breakdown = phases.report(
        step_seconds(result, lambda key: "check" not in key),
        step_seconds(result, lambda key: "check" in key),
    )
    steps, by_stage, step_count, failures = step_times(result)
    built = snapshots.partitions()
    last = days[-1].strftime("%Y%m%d")
    rows_last = snapshots.read(last, columns=[ID]).num_rows if built else 0
    floor = _floor(snapshots, days[-2].strftime("%Y%m%d") if len(days) > 1 else last)
    per_day = wall / len(days)
    full_days = (date.today() - FULL_HISTORY_START).days + 1
    return {
        "table": TABLE,
        "days": len(days),
        "rows_first_day": rows_text,
        "columns": len(wide_layout().columns),
        "changed_rows_per_day": max(1, int(rows_text * CHANGED)),
        "snapshot_rows_last_day": rows_last,
        "expected_rows_last_day": final_ids,
        "snapshot_bytes_last_day": snapshots.fs.get_file_info(
            f"{snapshots.partition_dir(last)}/part-0.parquet"
        ).size,
        "success": result.success and len(built) == len(days) and rows_last == final_ids,
        "failed_steps": failures,
        "generate_seconds": made["seconds"],
        "wall_seconds": wall,
        "step_seconds": steps,
        "steps": step_count,
        "seconds_per_day": per_day,
        "floor": floor,
        "per_day_vs_floor": per_day / floor["seconds"],
        "phases": breakdown,
        "full_history_days": full_days,
        "full_history_hours": per_day * full_days / 3600,
    }


def run(ctx: Any) -> dict[str, Any]:
    days, rows = (30, 50_000) if ctx.quick else (365, 50_000)
    scratch = ctx.scratch / "history"
    result = run_child("bench.cases.history", str(scratch), str(days), str(rows), timeout=3600)
    shutil.rmtree(scratch, ignore_errors=True)
    if not result.ok:
        ctx.log(f"  history: ERROR {result.error}")
        return {"ok": False, "error": result.error}
    data = result.data
    ctx.log(
        f"  {data['days']} days of {data['rows_first_day']:,}+ rows x {data['columns']} columns "
        f"(generated in {data['generate_seconds']:.0f}s): one ranged run "
        f"{data['wall_seconds']:.0f}s = {data['seconds_per_day']:.2f}s/day vs floor "
        f"{data['floor']['seconds']:.2f}s/day "
        f"({data['per_day_vs_floor']:.2f}x); full history of {data['full_history_days']:,} days "
        f"~{data['full_history_hours']:.1f} h{'' if data['success'] else ' FAILED'}"
    )
    return {"ok": True, **data, "peak_mb": result.max_rss_mb}


if __name__ == "__main__":
    child_main(_child)
