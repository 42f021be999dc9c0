"""``make run``: the whole platform on one machine against the built-in simulators.

Starts the simulators, then for each of several consecutive days sets their clock to 03:00
that day and runs the daily pipeline job (and the static one on Sundays) for that day's
partition, in process, against a persistent ``DAGSTER_HOME`` so that the runs show up in
``make dev``, whose simulators serve the same world (kept in ``DAGSTER_HOME``). Ends with a
summary of tables, rows per stage and check results.
"""

import argparse
import math
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from lbh_platform import settings_registry as registry
from lbh_platform.alloy.locations import alloy_table
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform_devkit.local import (
    LONDON,
    LocalStandIns,
    local_stand_ins,
    prepare_local_environment,
    requested_scale,
    tascomi_files,
)

# Dagster's console logger would print every event; the demo prints its own progress.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lbh-demo", description=__doc__)
    parser.add_argument(
        "--days",
        type=int,
        default=int(registry.number("LBH_DEMO_DAYS", kind=int)),
        help="consecutive days to materialise (default 4, env LBH_DEMO_DAYS)",
    )
    parser.add_argument(
        "--end", type=date.fromisoformat, default=None, help="last partition date (default: today)"
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help="simulator data scale (env LBH_SIM_SCALE; default: the simulated world's, 1 for "
        "a new one)",
    )
    parser.add_argument(
        "--tables",
        default=registry.get("LBH_DEMO_TABLES") or "",
        help="comma-separated subset of Tascomi tables (default: all)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    home = prepare_local_environment()
    end = args.end or datetime.now(LONDON).date()
    days = [end - timedelta(days=n) for n in range(args.days - 1, -1, -1)]
    registry.set_default("ALLOY_POLL_SECONDS", "0.1")

    # Imported late: definitions read the environment prepared above.
    from lbh_platform.alloy.datasets import load_datasets
    from lbh_platform.tascomi.tables import load_tables

    try:
        tables = load_tables(tascomi_files()[0])
        scale = requested_scale() if args.scale is None else args.scale
        if scale is not None and not (math.isfinite(scale) and scale > 0):
            raise ConfigurationError(f"--scale must be a positive number, got {scale}")
        if args.tables:
            wanted = {t.strip() for t in args.tables.split(",") if t.strip()}
            unknown = wanted - {t.name for t in tables}
            if unknown:
                print(f"unknown table(s): {sorted(unknown)}", file=sys.stderr)
                return 2
            tables = [t for t in tables if t.name in wanted]
        datasets = load_datasets()
        started = time.monotonic()
        simulators = start_simulators(home, days, scale)
    except ConfigurationError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 2
    with simulators as sims:
        print(
            f"stand-ins: {sims.describe()} (scale {sims.world.scale:g}, simulated since "
            f"{sims.world.epoch})",
            flush=True,
        )
        return _run_days(days, tables, datasets, home, sims, started)


def start_simulators(home: Path, days: list[date], scale: float | None = None) -> LocalStandIns:
    """The stand-ins ``make run`` runs: the world kept in ``home`` (new: starting before the
    first day), every configured table served, the event streams seeded for ``days``."""
    return local_stand_ins(home, first_day=days[0], scale=scale, event_stream_days=days)


def _jobs_for(day: date, first: bool, tables, datasets) -> list[tuple[str, str]]:
    """(job, partition) pairs a production day would run: daily tables every day, static ones
    on Sundays, Alloy on weekdays; the first day runs everything so the demo starts full."""
    from lbh_platform.defs.alloy.spec import PIPELINE_JOB as ALLOY_JOB
    from lbh_platform.defs.event_streams.spec import job_names
    from lbh_platform.defs.tascomi.spec import DAILY_PIPELINE_JOB, WEEKLY_PIPELINE_JOB
    from lbh_platform.event_streams.spec import load_event_streams

    jobs = []
    if any(not t.is_static for t in tables):
        jobs.append((DAILY_PIPELINE_JOB, day.isoformat()))
    if any(t.is_static for t in tables) and (day.weekday() == 6 or first):
        jobs.append((WEEKLY_PIPELINE_JOB, _weekly_key(day)))
    if datasets and (day.weekday() < 5 or first):
        jobs.append((ALLOY_JOB, day.isoformat()))
    # Event-streamed entities: the DynamoDB extract once, then each day's events on top.
    for stream in load_event_streams():
        jobs.append((job_names(stream)["pipeline" if first else "daily"], day.isoformat()))
    return jobs


def _run_days(days, tables, datasets, home: Path, sims: LocalStandIns, started: float) -> int:
    import dagster as dg

    from lbh_platform.definitions import build_definitions
    from lbh_platform.settings import load_settings
    from lbh_platform.storage.lake import Lake
    from lbh_platform.tascomi.column_types import ColumnTypeCatalogue

    settings = load_settings()
    catalogue = ColumnTypeCatalogue.load(tascomi_files()[1])
    defs = build_definitions(tables, catalogue, settings, datasets, include_event_streams=True)
    instance = dg.DagsterInstance.get()
    checks: Counter[str] = Counter()
    failed_checks: list[str] = []
    ok = True
    for day in days:
        sims.set_now(datetime.combine(day, dtime(3, 0), LONDON))
        for job_name, partition in _jobs_for(day, day == days[0], tables, datasets):
            t0 = time.monotonic()
            result = defs.resolve_job_def(job_name).execute_in_process(
                instance=instance,
                partition_key=partition,
                raise_on_error=False,
                run_config=QUIET,
            )
            for event in result.all_events:
                if event.event_type_value == "ASSET_CHECK_EVALUATION":
                    evaluation = event.event_specific_data
                    if evaluation.check_name == "freshness_check" and day != days[-1]:
                        continue  # judges today's partition at the real time: last day only
                    warning = evaluation.severity == dg.AssetCheckSeverity.WARN
                    outcome = "passed" if evaluation.passed else "warned" if warning else "failed"
                    checks[outcome] += 1
                    if not evaluation.passed:
                        failed_checks.append(
                            f"{outcome}: {evaluation.asset_key.to_user_string()}:"
                            f"{evaluation.check_name} [{partition}]"
                        )
            ok &= result.success
            if not result.success:
                for event in result.all_events:
                    if event.event_type_value == "STEP_FAILURE":
                        error = event.event_specific_data.error
                        print(f"    {event.step_key}: {error.message.strip()[:300]}")
            print(
                f"  {day} {job_name} partition {partition}: "
                f"{'success' if result.success else 'FAILED'} in {time.monotonic() - t0:.1f}s",
                flush=True,
            )
    lake = Lake({"raw": settings.raw_zone, "refined": settings.refined_zone})
    _summary(tables, datasets, lake, days[-1], settings, home, checks, failed_checks, started)
    return 0 if ok else 1


def _weekly_key(day: date) -> str:
    """The weekly partition (starting Sunday) that contains ``day``."""
    return (day - timedelta(days=(day.weekday() + 1) % 7)).isoformat()


def _summary(tables, datasets, lake, last_day, settings, home, checks, failed_checks, started):
    from lbh_platform.tascomi.stages import partition_value

    print()
    print(
        f"{'table':34} {'cadence':7} {'api_response':>12} {'parsed':>8} "
        f"{'increment':>9} {'snapshot':>8}"
    )
    for table in tables:
        counts = []
        for stage in ("api_response", "parsed", "increment", "snapshot"):
            store = tascomi_table(lake, stage, table.name)
            values = [v for v in store.partitions() if v <= partition_value(last_day)]
            counts.append(store.read(values[-1], columns=[]).num_rows if values else 0)
        print(
            f"{table.name:34} {table.cadence:7} {counts[0]:>12} {counts[1]:>8} "
            f"{counts[2]:>9} {counts[3]:>8}"
        )
    if datasets:
        print()
        print(f"{'alloy dataset / table':45} {'mode':11} {'api_response':>12} {'snapshot':>8}")
        for dataset in datasets:
            for table in dataset.tables:
                counts = []
                for stage in ("api_response", "snapshot"):
                    store = alloy_table(lake, stage, dataset.name, table)
                    values = [v for v in store.partitions() if v <= partition_value(last_day)]
                    counts.append(store.read(values[-1], columns=[]).num_rows if values else 0)
                print(
                    f"{dataset.name + ' / ' + table:45} {dataset.mode:11} {counts[0]:>12} "
                    f"{counts[1]:>8}"
                )
    from lbh_platform.event_streams.locations import stage_table
    from lbh_platform.event_streams.spec import STAGES, load_event_streams

    print()
    print(f"{'event-streamed entity / stage':45} {'rows':>8}")
    for stream in load_event_streams():
        for stage in STAGES:
            store = stage_table(lake, stream, stage)
            values = [v for v in store.partitions() if v <= partition_value(last_day)]
            rows = store.read(values[-1], columns=[]).num_rows if values else 0
            print(f"{stream.name + ' / ' + stage:45} {rows:>8}")
    print()
    print(f"rows are those of each table's newest partition up to {last_day}")
    print(
        f"checks: {checks['passed']} passed, {checks['warned']} warnings, {checks['failed']} failed"
    )
    for name in failed_checks[:20]:
        print(f"  {name}")
    print(f"raw zone:     {settings.raw_zone}")
    print(f"refined zone: {settings.refined_zone}")
    print(f"DAGSTER_HOME: {home}")
    print("SQL: .venv/bin/python -m lbh_platform.cli.sql  (the local DuckDB catalogue)")
    print("UI: run `make dev` and open http://127.0.0.1:3000")
    print(f"finished in {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    raise SystemExit(main())
