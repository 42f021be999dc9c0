"""Jobs and schedules: 03:00 daily ingestion, 03:00 Sunday static ingestion.

Only the ``api_response`` stage is scheduled; every later stage runs as soon as its upstream
partition lands (declarative automation), so there is no timed second pass.
"""

import dagster as dg

from lbh_platform.defs.partitions import daily_partitions, weekly_partitions
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
    daily = [t for t in tables if not t.is_static]
    weekly = [t for t in tables if t.is_static]
    all_stages = ("api_response", "parsed", "increment", "snapshot")
    ingest_daily = dg.define_asset_job(
        DAILY_INGEST_JOB,
        selection=dg.AssetSelection.assets(*_stage_keys(daily, ("api_response",))),
        partitions_def=daily_partitions,
        description="Fetch the day's Tascomi increments for every daily table.",
    )
    ingest_weekly = dg.define_asset_job(
        WEEKLY_INGEST_JOB,
        selection=dg.AssetSelection.assets(*_stage_keys(weekly, ("api_response",))),
        partitions_def=weekly_partitions,
        description="Fetch the week's Tascomi increments for every static lookup table.",
    )
    # Whole pipelines (all four stages and their checks) for manual runs and `make run`.
    pipeline_daily = dg.define_asset_job(
        DAILY_PIPELINE_JOB,
        selection=dg.AssetSelection.assets(*_stage_keys(daily, all_stages)),
        partitions_def=daily_partitions,
        description="All four stages of every daily Tascomi table, with their checks.",
    )
    pipeline_weekly = dg.define_asset_job(
        WEEKLY_PIPELINE_JOB,
        selection=dg.AssetSelection.assets(*_stage_keys(weekly, all_stages)),
        partitions_def=weekly_partitions,
        description="All four stages of every static Tascomi table, with their checks.",
    )
    schedules = [
        dg.build_schedule_from_partitioned_job(
            ingest_daily, hour_of_day=3, minute_of_hour=0, name="tascomi_daily_0300",
            default_status=dg.DefaultScheduleStatus.STOPPED,
        ),
        dg.build_schedule_from_partitioned_job(
            ingest_weekly, hour_of_day=3, minute_of_hour=0, day_of_week=0,
            name="tascomi_weekly_static_sunday_0300",
            default_status=dg.DefaultScheduleStatus.STOPPED,
        ),
    ]
    return [ingest_daily, ingest_weekly, pipeline_daily, pipeline_weekly], schedules


automation_sensor = dg.AutomationConditionSensorDefinition(
    "lbh_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs each later stage as soon as its upstream partition lands.",
)
