"""Alloy exports run on weekdays; snapshots follow their exports by automation."""

from datetime import datetime

import dagster as dg

from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.defs.alloy.assets import asset_key
from lbh_platform.defs.automation_defaults import DAILY_INGEST, schedule_status
from lbh_platform.defs.partitions import TIMEZONE

EXPORT_JOB = "alloy_weekday_export"
PIPELINE_JOB = "alloy_pipeline"


def build_alloy_automation(
    datasets: list[AlloyDataset],
) -> tuple[list, list[dg.ScheduleDefinition]]:
    if not datasets:
        return [], []
    job = dg.define_asset_job(
        EXPORT_JOB,
        selection=dg.AssetSelection.assets(
            *[asset_key("api_response", d.name, t) for d in datasets for t in d.tables]
        ),
        description="Request every Alloy dataset's export (all its output tables).",
    )

    pipeline = dg.define_asset_job(
        PIPELINE_JOB,
        selection=dg.AssetSelection.groups("alloy"),
        description="Every Alloy export and snapshot, with their checks (manual runs, make run).",
    )

    @dg.schedule(
        name="alloy_weekdays_0400",
        cron_schedule="0 4 * * 1-5",
        execution_timezone=TIMEZONE,
        job=job,
        default_status=schedule_status(DAILY_INGEST),
        description="Alloy exports at 04:00 on weekdays, for that day's partition.",
    )
    def weekday_exports(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = context.scheduled_execution_time or datetime.now()
        return dg.RunRequest(partition_key=day.strftime("%Y-%m-%d"))

    return [job, pipeline], [weekday_exports]
