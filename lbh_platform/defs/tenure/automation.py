"""Tenure jobs, the event-file sensor and the (opt-in) weekly re-sync schedule.

New event files start the ``events`` partition of their import date (sensor); ``snapshot``
follows by declarative automation. The initial extract runs on demand, or weekly once the
schedule is switched on: it re-reads DynamoDB, reports drift, and rebuilds the day's snapshot
on the fresh extract.
"""

import json
from datetime import datetime

import dagster as dg

from lbh_platform.defs.partitions import TIMEZONE, daily_partitions
from lbh_platform.defs.resources import LakeResource
from lbh_platform.defs.tenure.assets import GROUP, asset_key
from lbh_platform.tenure.locations import EventFiles
from lbh_platform.tenure.watch import DEFAULT_LOOKBACK, changed_days, load_cursor

EVENTS_JOB = "tenure_events"
RESYNC_JOB = "tenure_resync"
PIPELINE_JOB = "tenure_pipeline"
DAILY_JOB = "tenure_daily"
SENSOR = "tenure_event_files"


def build_tenure_automation() -> tuple[list, list[dg.SensorDefinition], list]:
    """(jobs, sensors, schedules)."""
    events_job = dg.define_asset_job(
        EVENTS_JOB,
        selection=dg.AssetSelection.assets(asset_key("events"), asset_key("events_quarantine")),
        description="Compact one day's tenure event files (started by the file sensor).",
    )
    resync_job = dg.define_asset_job(
        RESYNC_JOB,
        selection=dg.AssetSelection.assets(
            asset_key("initial_state"), asset_key("snapshot"), asset_key("deletions")
        ),
        description="Re-read DynamoDB (with the drift check), then rebuild the day's snapshot "
        "on the fresh extract and that day's events.",
    )
    daily_job = dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.groups(GROUP)
        - dg.AssetSelection.assets(asset_key("initial_state")),
        description="One day's events compacted and applied to the snapshot (no DynamoDB read).",
    )
    pipeline_job = dg.define_asset_job(
        PIPELINE_JOB,
        selection=dg.AssetSelection.groups(GROUP),
        description="Every tenure asset with its checks (manual runs, demos).",
    )

    @dg.sensor(
        name=SENSOR,
        job=events_job,
        minimum_interval_seconds=120,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="New tenure event files in an import_date folder request that day's "
        "events partition (cursor: a fingerprint of each recent folder's file names).",
    )
    def event_files(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        cursor = load_cursor(context.cursor)
        changed, new_cursor = changed_days(EventFiles(lake.lake()), cursor, DEFAULT_LOOKBACK)
        requests = []
        for value, seen in changed:
            partition = f"{value[:4]}-{value[4:6]}-{value[6:]}"
            if not daily_partitions.has_partition_key(partition):
                context.log.warning(
                    f"event folder import_date={value} is not a partition of the daily "
                    "partitions (before the first import date, or in the future); skipped"
                )
                continue
            requests.append(
                dg.RunRequest(partition_key=partition, run_key=f"tenure_events:{value}:{seen}")
            )
        if not requests:
            return dg.SensorResult(
                skip_reason="no new tenure event files", cursor=json.dumps(new_cursor)
            )
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(new_cursor))

    @dg.schedule(
        name="tenure_weekly_resync",
        cron_schedule="0 5 * * 0",
        execution_timezone=TIMEZONE,
        job=resync_job,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Sunday 05:00: a fresh DynamoDB extract, its drift check, and the day's "
        "snapshot rebuilt on it (off by default: the ADR limits reads of the service's table).",
    )
    def resync(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = context.scheduled_execution_time or datetime.now()
        return dg.RunRequest(partition_key=day.strftime("%Y-%m-%d"))

    return [events_job, resync_job, daily_job, pipeline_job], [event_files], [resync]
