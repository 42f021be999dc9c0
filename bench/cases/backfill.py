"""Backfill: 30 days of one table's snapshot as one ranged run versus 30 single-day runs.

The upstream partitions (``api_response``, ``parsed``, ``increment``) of ``applications`` are
prepared first, day by day against the simulator, by the stage functions themselves. Then the
snapshot asset (with its check) is built for the 30 days with ``execute_in_process``: once as
one run over the range (``dagster/asset_partition_range_start/end`` tags, as a backfill
launches it), and, after the snapshots are deleted, as 30 runs of one partition each, in
order. Both use the full definitions (every table configured) and a temporary DAGSTER_HOME.

Ranged and single runs alternate (two rounds in a full run); the best of each is reported.

Child usage: ``python -m bench.cases.backfill <scratch dir> <days> <rounds>``.
"""

import shutil
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from bench.cases.orchestration import LONDON, QUIET, prepare_environment, step_times
from bench.common import child_main, run_child
from lbh_platform.tascomi.locations import tascomi_table

TABLE = "applications"
FIRST = date(2024, 2, 1)
SCALE = 5  # 1,000 applications at first, ~25 changed a day


def _child(argv: list[str]) -> dict[str, Any]:
    scratch, days_text, rounds = Path(argv[0]), argv[1], int(argv[2])
    days = [FIRST + timedelta(days=n) for n in range(int(days_text))]
    prepare_environment(scratch)
    import dagster as dg

    from lbh_platform.settings import load_settings
    from lbh_platform.storage.lake import Lake
    from lbh_platform.tascomi import stages
    from lbh_platform.tascomi.client import TascomiClient
    from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
    from lbh_platform.tascomi.tables import load_tables
    from lbh_platform_devkit.tascomi.simulator import TascomiSimulator

    catalogue = ColumnTypeCatalogue.load()
    table = next(t for t in load_tables() if t.name == TABLE)
    settings = load_settings()
    lake = Lake({"raw": settings.raw_zone, "refined": settings.refined_zone})
    simulator = TascomiSimulator([table], catalogue, scale=SCALE, epoch=FIRST - timedelta(days=10))
    started = time.perf_counter()
    with simulator, TascomiClient(simulator.start(), "sim-public-key", "sim-private-key") as client:
        for day in days:
            simulator.set_now(datetime.combine(day, dtime(0, 0), LONDON))
            stages.ingest(lake, table, day, client.fetch)
            stages.parse(lake, table, day)
            stages.refine(lake, table, day, catalogue.columns(TABLE))
    prepare_seconds = time.perf_counter() - started

    from lbh_platform.definitions import defs

    key = dg.AssetKey(["tascomi", "snapshot", TABLE])
    instance = dg.DagsterInstance.get()
    started = time.perf_counter()
    job = defs.resolve_implicit_job_def_def_for_assets([key]).get_subset(asset_selection={key})
    resolve_seconds = time.perf_counter() - started
    snapshots = tascomi_table(lake, "snapshot", TABLE)

    def execute(**kwargs: Any) -> tuple[float, Any]:
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET, **kwargs
        )
        return time.perf_counter() - started, result

    rounds_out = []
    for _ in range(rounds):
        # Alternate, so drift on a shared machine hits both ways alike.
        shutil.rmtree(snapshots.base, ignore_errors=True)
        ranged_wall, ranged = execute(
            tags={
                "dagster/asset_partition_range_start": days[0].isoformat(),
                "dagster/asset_partition_range_end": days[-1].isoformat(),
            }
        )
        ranged_steps, _, ranged_count, ranged_failures = step_times(ranged)
        built = snapshots.partitions()
        rows = snapshots.read(built[-1], columns=[]).num_rows if built else 0
        shutil.rmtree(snapshots.base, ignore_errors=True)
        singles_wall = 0.0
        singles_steps = 0.0
        singles_ok = True
        single_failures: list[str] = []
        for day in days:
            wall, result = execute(partition_key=day.isoformat())
            steps, _, _, failures = step_times(result)
            singles_wall += wall
            singles_steps += steps
            singles_ok &= result.success
            single_failures += failures
        single_rows = snapshots.read(days[-1].strftime("%Y%m%d"), columns=[]).num_rows
        rounds_out.append(
            {
                "ranged": {
                    "success": ranged.success and rows == single_rows,
                    "partitions_built": len(built),
                    "wall_seconds": ranged_wall,
                    "step_seconds": ranged_steps,
                    "steps": ranged_count,
                    "failed_steps": ranged_failures,
                },
                "single_runs": {
                    "success": singles_ok,
                    "runs": len(days),
                    "wall_seconds": singles_wall,
                    "step_seconds": singles_steps,
                    "failed_steps": single_failures,
                },
                "snapshot_rows_last_day": rows,
            }
        )

    def best(kind: str) -> dict[str, Any]:
        chosen = min((r[kind] for r in rounds_out), key=lambda run: run["wall_seconds"])
        return {
            **chosen,
            "success": all(r[kind]["success"] for r in rounds_out),
            "all_wall_seconds": [r[kind]["wall_seconds"] for r in rounds_out],
        }

    return {
        "table": TABLE,
        "days": len(days),
        "simulator_scale": SCALE,
        "snapshot_rows_last_day": rounds_out[-1]["snapshot_rows_last_day"],
        "prepare_upstream_seconds": prepare_seconds,
        "resolve_job_seconds": resolve_seconds,
        "rounds": rounds_out,
        "ranged": best("ranged"),
        "single_runs": best("single_runs"),
    }


def run(ctx: Any) -> dict[str, Any]:
    days, rounds = (10, 1) if ctx.quick else (30, 2)
    result = run_child(
        "bench.cases.backfill", str(ctx.scratch / "backfill"), str(days), str(rounds), timeout=1500
    )
    if not result.ok:
        ctx.log(f"  backfill: ERROR {result.error}")
        return {"ok": False, "error": result.error}
    data = result.data
    ctx.log(
        f"  upstream of {data['days']} days prepared in {data['prepare_upstream_seconds']:.1f}s; "
        f"one ranged run {data['ranged']['wall_seconds']:.1f}s vs {data['days']} single runs "
        f"{data['single_runs']['wall_seconds']:.1f}s"
    )
    return {"ok": True, **data, "peak_mb": result.max_rss_mb}


if __name__ == "__main__":
    child_main(_child)
