"""Jobs and schedules: 03:00 daily ingestion, 03:00 Sunday static ingestion.

Only the ``api_response`` stage is scheduled; every later stage runs as soon as its upstream
partition lands (declarative automation), so there is no timed second pass.
"""

import dagster as dg

from lbh_platform.defs.automation_defaults import DAILY_INGEST, schedule_status
from lbh_platform.defs.tascomi.assets import asset_key
from lbh_platform.tascomi.tables import TascomiTable

DAILY_INGEST_JOB = "tascomi_daily_ingest"
WEEKLY_INGEST_JOB = "tascomi_weekly_static_ingest"
DAILY_PIPELINE_JOB = "tascomi_daily_pipeline"
WEEKLY_PIPELINE_JOB = "tascomi_weekly_static_pipeline"


def _stage_keys(tables: list[TascomiTable], stages: tuple[str, ...]) -> list[dg.AssetKey]:
    return [asset_key(stage, t.name) for t in tables for stage in stages]


def build_jobs_and_schedules(
    tables: list[TascomiTable],
) -> tuple[list, list[dg.ScheduleDefinition]]:
    jobs: list = []
    schedules: list[dg.ScheduleDefinition] = []
    all_stages = ("api_response", "parsed", "increment", "snapshot")
    for cadence, ingest_name, pipeline_name, schedule_name, day_of_week in (
        ("daily", DAILY_INGEST_JOB, DAILY_PIPELINE_JOB, "tascomi_daily_0300", None),
        ("weekly", WEEKLY_INGEST_JOB, WEEKLY_PIPELINE_JOB, "tascomi_weekly_static_sunday_0300", 0),
    ):
        chosen = [t for t in tables if t.cadence == cadence]
        if not chosen:
            continue
        ingest = dg.define_asset_job(
            ingest_name,
            selection=dg.AssetSelection.assets(*_stage_keys(chosen, ("api_response",))),
            description=f"Fetch the Tascomi increments of every {cadence} table.",
            # Re-running api_response replaces its partitions exactly, so a failed run (an API
            # outage, a lost worker) is retried by the daemon where run_retries is enabled.
            tags={"dagster/max_retries": "2", "dagster/retry_strategy": "ALL_STEPS"},
        )
        # The whole pipeline (four stages and their checks) for manual runs and `make run`.
        pipeline = dg.define_asset_job(
            pipeline_name,
            selection=dg.AssetSelection.assets(*_stage_keys(chosen, all_stages)),
            description=f"All four stages of every {cadence} Tascomi table, with their checks.",
        )
        jobs += [ingest, pipeline]
        schedules.append(
            dg.build_schedule_from_partitioned_job(
                ingest,
                hour_of_day=3,
                minute_of_hour=0,
                name=schedule_name,
                default_status=schedule_status(DAILY_INGEST),
                **({} if day_of_week is None else {"day_of_week": day_of_week}),
            )
        )
    return jobs, schedules

