"""Orchestration overhead: loading the definitions, and one full daily run on the simulators.

- ``load`` (fresh process, five times, the best reported): ``import dagster``, then ``import
  lbh_platform.definitions`` with every table and dataset configured, then resolving the
  repository and every job (what a code server does before it can serve).
- ``daily``: the Tascomi daily pipeline job (21 daily tables, four stages and checks) and the
  Alloy pipeline job (every dataset) for one day via ``execute_in_process`` against the
  built-in simulators (scale 1, as ``make run``), on a temporary ``DAGSTER_HOME`` with the
  instance ``make run`` writes (cli/local.py ``INSTANCE_CONFIG``). The first day is a full
  load; the second, the ordinary daily increment, is the headline. Each run's wall time is
  split into transform time (the sum of STEP_SUCCESS durations: the steps' own compute, I/O
  and HTTP) and Dagster overhead (the rest).
- ``launched``: the second day's Tascomi daily run of three tables (their four stages and
  checks), as the daemon's run worker executes it (``execute_job`` of the reconstructable
  job, after an untimed first day of the whole job): with the executor the jobs have (every
  step in the run's process, ``LBH_STEP_PROCESSES=1``) and with Dagster's default
  multiprocess executor (a process per step, at most one per core), which the jobs had
  before; the same split per step. Three tables keep the per-step-process variant to about
  a minute.

Child usage: ``python -m bench.cases.orchestration load|daily|launched <scratch dir>``.
"""

import os
import re
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import best_of, child_main, run_child

LONDON = ZoneInfo("Europe/London")
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
DAYS = (date(2024, 3, 12), date(2024, 3, 13))  # Tuesday (first, full load), Wednesday
STAGES = ("api_response", "parsed", "increment", "snapshot")
STAGE = re.compile(f"({'|'.join(STAGES)})")
LAUNCHED_TABLES = 3


def prepare_environment(scratch: Path) -> Path:
    """Temporary zones, catalogue file and DAGSTER_HOME, set before definitions load."""
    scratch.mkdir(parents=True, exist_ok=True)
    home = scratch / "dagster_home"
    home.mkdir(exist_ok=True)
    from lbh_platform_devkit.local import INSTANCE_CONFIG

    # The embedded default's instance, as `make run` and `make dev` write it.
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG)
    os.environ.update(
        LBH_RAW_ZONE=str(scratch / "raw-zone"),
        LBH_REFINED_ZONE=str(scratch / "refined-zone"),
        LBH_DUCKDB_PATH=str(scratch / "catalog.duckdb"),
        DAGSTER_HOME=str(home),
        ALLOY_POLL_SECONDS="0.1",
    )
    return home


def _load(scratch: Path) -> dict[str, Any]:
    prepare_environment(scratch)
    started = time.perf_counter()
    import dagster  # noqa: F401

    imported = time.perf_counter()
    from lbh_platform.definitions import defs

    loaded = time.perf_counter()
    repository = defs.get_repository_def()
    jobs = defs.resolve_all_job_defs()
    resolved = time.perf_counter()
    return {
        "import_dagster_seconds": imported - started,
        "import_definitions_seconds": loaded - imported,
        "resolve_repository_seconds": resolved - loaded,
        "seconds": resolved - started,
        "assets": len(repository.asset_graph.get_all_asset_keys()),
        "asset_checks": len(list(repository.asset_graph.asset_check_keys)),
        "jobs": len(jobs),
    }


def step_times(result: Any) -> tuple[float, dict[str, float], int, list[str]]:
    """Sum of STEP_SUCCESS durations (seconds), the same by stage, step count, failures."""
    total = 0.0
    by_stage: dict[str, float] = defaultdict(float)
    steps = 0
    failures = []
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            seconds = event.event_specific_data.duration_ms / 1000
            total += seconds
            steps += 1
            key = event.step_key or ""
            match = STAGE.search(key)
            group = "alloy " if key.startswith("alloy") else "tascomi "
            by_stage[group + (match.group(1) if match else "other")] += seconds
        elif event.event_type_value == "STEP_FAILURE":
            failures.append(event.step_key or "?")
    return total, dict(by_stage), steps, failures


def run_split(result: Any, wall: float) -> dict[str, Any]:
    """A run's wall time split into its steps' own time and Dagster's overhead."""
    steps_total, by_stage, steps, failures = step_times(result)
    return {
        "success": result.success,
        "wall_seconds": wall,
        "step_seconds": steps_total,
        "overhead_seconds": wall - steps_total,
        "steps": steps,
        "step_seconds_by_stage": by_stage,
        "failed_steps": failures,
    }


def _daily(scratch: Path) -> dict[str, Any]:
    import dagster as dg

    prepare_environment(scratch)
    from lbh_platform.alloy.datasets import load_datasets
    from lbh_platform.defs.alloy.spec import PIPELINE_JOB as ALLOY_JOB
    from lbh_platform.defs.tascomi.spec import DAILY_PIPELINE_JOB
    from lbh_platform.tascomi.tables import load_tables
    from lbh_platform_devkit.local import LocalStandIns
    from lbh_platform_devkit.stand_ins import LocalWorld

    tables = load_tables()
    datasets = load_datasets()
    runs: dict[str, Any] = {}
    with LocalStandIns(LocalWorld(epoch=DAYS[0] - timedelta(days=30))) as sims:
        from lbh_platform.definitions import defs  # after the simulators set the URLs

        started = time.perf_counter()
        jobs = {name: defs.resolve_job_def(name) for name in (DAILY_PIPELINE_JOB, ALLOY_JOB)}
        resolve_seconds = time.perf_counter() - started
        instance = dg.DagsterInstance.get()  # DAGSTER_HOME set above
        for day in DAYS:
            sims.set_now(datetime.combine(day, dtime(3, 0), LONDON))
            day_runs = {}
            for name, job in jobs.items():
                started = time.perf_counter()
                result = job.execute_in_process(
                    instance=instance,
                    partition_key=day.isoformat(),
                    raise_on_error=False,
                    run_config=QUIET,
                )
                day_runs[name] = run_split(result, time.perf_counter() - started)
            runs[day.isoformat()] = day_runs
    daily_tables = [t.name for t in tables if not t.is_static]
    return {
        "tascomi_daily_tables": len(daily_tables),
        "alloy_datasets": len(datasets),
        "resolve_jobs_seconds": resolve_seconds,
        "runs": runs,
    }


def tascomi_daily_job() -> Any:
    """The Tascomi daily pipeline as the code server holds it (``reconstructable`` target)."""
    from lbh_platform.definitions import defs
    from lbh_platform.defs.tascomi.spec import DAILY_PIPELINE_JOB

    return defs.resolve_job_def(DAILY_PIPELINE_JOB)


def tascomi_daily_job_per_step_processes() -> Any:
    """The same job with Dagster's default executor: one process per step."""
    import dagster as dg

    return tascomi_daily_job().with_executor_def(dg.multiprocess_executor)


def _launched(scratch: Path) -> dict[str, Any]:
    import dagster as dg

    prepare_environment(scratch)
    from lbh_platform.defs.tascomi.spec import stage_key
    from lbh_platform.tascomi.tables import load_tables
    from lbh_platform_devkit.local import LocalStandIns
    from lbh_platform_devkit.stand_ins import LocalWorld

    tables = load_tables()
    launched = [t.name for t in tables if not t.is_static][:LAUNCHED_TABLES]
    selection = [dg.AssetKey(list(stage_key(name, stage))) for name in launched for stage in STAGES]
    cores = os.cpu_count() or 1
    variants = {
        "jobs_executor": (tascomi_daily_job, {}),
        "process_per_step": (
            tascomi_daily_job_per_step_processes,
            {"execution": {"config": {"max_concurrent": cores}}},
        ),
    }
    results: dict[str, Any] = {"cores": cores, "tables": launched}
    with LocalStandIns(LocalWorld(epoch=DAYS[0] - timedelta(days=30))) as sims:
        instance = dg.DagsterInstance.get()
        sims.set_now(datetime.combine(DAYS[0], dtime(3, 0), LONDON))
        tascomi_daily_job().execute_in_process(
            instance=instance, partition_key=DAYS[0].isoformat(), run_config=QUIET
        )
        sims.set_now(datetime.combine(DAYS[1], dtime(3, 0), LONDON))
        for name, (target, config) in variants.items():
            started = time.perf_counter()
            result = dg.execute_job(
                dg.reconstructable(target),
                instance=instance,
                asset_selection=selection,
                run_config={**QUIET, **config},
                tags={"dagster/partition": DAYS[1].isoformat()},
                raise_on_error=False,
            )
            results[name] = run_split(result, time.perf_counter() - started)
    return results


def _child(argv: list[str]) -> dict[str, Any]:
    kind, scratch = argv
    if kind == "load":
        return _load(Path(scratch))
    if kind == "daily":
        return _daily(Path(scratch))
    if kind == "launched":
        return _launched(Path(scratch))
    raise ValueError(f"unknown kind {kind!r}")


def _progress(label: str, run_: dict[str, Any]) -> str:
    return (
        f"  {label}: {run_['wall_seconds']:.1f}s wall, {run_['step_seconds']:.1f}s in "
        f"{run_['steps']} steps, overhead {run_['overhead_seconds']:.1f}s"
        f"{'' if run_['success'] else ' FAILED'}"
    )


def run(ctx: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    loads = []
    for attempt in range(5):
        result = run_child(
            "bench.cases.orchestration", "load", str(ctx.scratch / f"load-{attempt}"), timeout=300
        )
        if not result.ok:
            results["load"] = {"ok": False, "error": result.error}
            ctx.log(f"  load: ERROR {result.error}")
            break
        loads.append({**result.data, "process_wall_seconds": result.wall_seconds})
        ctx.log(
            f"  load run {attempt + 1}: import dagster {result.data['import_dagster_seconds']:.2f}s"
            f", definitions {result.data['import_definitions_seconds']:.2f}s, resolve "
            f"{result.data['resolve_repository_seconds']:.2f}s; process {result.wall_seconds:.2f}s"
        )
    if loads:
        best = best_of(loads)
        results["load"] = {"ok": True, **best}
    daily = run_child(
        "bench.cases.orchestration", "daily", str(ctx.scratch / "daily"), timeout=1200
    )
    if daily.ok:
        results["daily"] = {"ok": True, **daily.data, "peak_mb": daily.max_rss_mb}
        for day, jobs in daily.data["runs"].items():
            for name, run_ in jobs.items():
                ctx.log(_progress(f"{day} {name}", run_))
    else:
        results["daily"] = {"ok": False, "error": daily.error}
        ctx.log(f"  daily: ERROR {daily.error}")
    launched = run_child(
        "bench.cases.orchestration", "launched", str(ctx.scratch / "launched"), timeout=1800
    )
    if launched.ok:
        results["launched"] = {"ok": True, **launched.data}
        for name in ("jobs_executor", "process_per_step"):
            ctx.log(_progress(f"launched, {name}", launched.data[name]))
    else:
        results["launched"] = {"ok": False, "error": launched.error}
        ctx.log(f"  launched: ERROR {launched.error}")
    return results


if __name__ == "__main__":
    child_main(_child)
