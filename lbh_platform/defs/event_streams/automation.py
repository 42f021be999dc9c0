"""An event-streamed entity's jobs, sensors and the (opt-in) weekly re-sync schedule.

New event files start the ``events`` partition of their import date (file sensor); ``snapshot``
follows by declarative automation. Snapshots that no longer hold every event of their window (a
day compacted again after them, late files) are rebuilt in date order, from the oldest to the
newest, in one run (stale-snapshot sensor). The initial extract runs on demand, or weekly once
the schedule is switched on: it re-reads DynamoDB, reports drift, and rebuilds the day's
snapshot on the fresh extract.
"""

import json
from datetime import datetime, timedelta

import dagster as dg

from lbh_platform.defs.automation_defaults import (
    EVENT_FILES,
    FOLLOW_UP,
    OPT_IN,
    schedule_status,
    sensor_status,
)
from lbh_platform.defs.event_streams.assets import asset_key, partition_key
from lbh_platform.defs.partitions import TIMEZONE, daily_partitions
from lbh_platform.defs.resources import LakeResource
from lbh_platform.event_streams.inputs import Inputs, describe_problems, digest
from lbh_platform.event_streams.sink import EventFiles
from lbh_platform.event_streams.spec import EventStream
from lbh_platform.event_streams.watch import DEFAULT_LOOKBACK, changed_days, load_cursor

# How far before the newest snapshot the stale-snapshot sensor looks (a day compacted again
# further back is rebuilt by hand: a backfill of the snapshot from that day on).
STALE_LOOKBACK_DAYS = 31
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def job_names(stream: EventStream) -> dict[str, str]:
    name = stream.name
    return {
        "events": f"{name}_events",
        "resync": f"{name}_resync",
        "pipeline": f"{name}_pipeline",
        "daily": f"{name}_daily",
        "rebuild": f"{name}_rebuild_snapshots",
        "file_sensor": f"{name}_event_files",
        "stale_sensor": f"{name}_stale_snapshots",
        "resync_schedule": f"{name}_weekly_resync",
    }


def rebuild_request(stream: EventStream, inputs: Inputs) -> tuple[dg.RunRequest | None, str]:
    """One run rebuilding the snapshots from the oldest stale one to the newest, or None."""
    snapshots = inputs.partitions("snapshot")
    if not snapshots:
        return None, "no snapshots yet"
    newest = datetime.strptime(snapshots[-1], "%Y%m%d")
    since = (newest - timedelta(days=STALE_LOOKBACK_DAYS)).strftime("%Y%m%d")
    stale = inputs.stale_snapshots(since)
    if not stale:
        return None, f"every {stream.label} snapshot since {since} holds its window's events"
    first, last = min(stale), snapshots[-1]
    why = "; ".join(f"{v}: {describe_problems(p)}" for v, p in sorted(stale.items()))
    request = dg.RunRequest(
        run_key=f"{job_names(stream)['rebuild']}:{first}:{last}:{digest(stale)}",
        tags={RANGE_START: partition_key(first), RANGE_END: partition_key(last)},
    )
    return request, why


def build_automation(stream: EventStream) -> tuple[list, list[dg.SensorDefinition], list]:
    """(jobs, sensors, schedules)."""
    names = job_names(stream)
    key = lambda stage: asset_key(stream, stage)  # noqa: E731
    label = stream.label
    events_job = dg.define_asset_job(
        names["events"],
        selection=dg.AssetSelection.assets(key("events"), key("events_quarantine")),
        description=f"Compact one day's {label} event files (started by the file sensor).",
    )
    resync_job = dg.define_asset_job(
        names["resync"],
        selection=dg.AssetSelection.assets(key("initial_state"), key("snapshot"), key("deletions")),
        description="Re-read DynamoDB (with the drift check), then rebuild the day's snapshot "
        "on the fresh extract and that day's events.",
    )
    daily_job = dg.define_asset_job(
        names["daily"],
        selection=dg.AssetSelection.groups(stream.name)
        - dg.AssetSelection.assets(key("initial_state")),
        description="One day's events compacted and applied to the snapshot (no DynamoDB read).",
    )
    pipeline_job = dg.define_asset_job(
        names["pipeline"],
        selection=dg.AssetSelection.groups(stream.name),
        description=f"Every {label} asset with its checks (manual runs, demos).",
    )
    rebuild_job = dg.define_asset_job(
        names["rebuild"],
        selection=dg.AssetSelection.assets(key("snapshot"), key("deletions")),
        description="Rebuild a range of snapshots in date order (started by the stale-snapshot "
        "sensor).",
    )

    @dg.sensor(
        name=names["file_sensor"],
        job=events_job,
        minimum_interval_seconds=120,
        default_status=sensor_status(EVENT_FILES),
        description=f"New {label} event files in an import_date folder request that day's "
        "events partition (cursor: a fingerprint of each recent folder's file names).",
    )
    def event_files(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        cursor = load_cursor(context.cursor)
        files = EventFiles(lake.lake(), stream.topic)
        changed, new_cursor = changed_days(files, cursor, DEFAULT_LOOKBACK)
        requests = []
        for value, seen in changed:
            partition = partition_key(value)
            if not daily_partitions.has_partition_key(partition):
                context.log.warning(
                    f"event folder import_date={value} is not a partition of the daily "
                    "partitions (before the first import date, or in the future); skipped"
                )
                continue
            requests.append(
                dg.RunRequest(partition_key=partition, run_key=f"{names['events']}:{value}:{seen}")
            )
        if not requests:
            return dg.SensorResult(
                skip_reason=f"no new {label} event files", cursor=json.dumps(new_cursor)
            )
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(new_cursor))

    @dg.sensor(
        name=names["stale_sensor"],
        job=rebuild_job,
        minimum_interval_seconds=300,
        default_status=sensor_status(FOLLOW_UP),
        description=f"{label.capitalize()} snapshots that miss events of their window (a day "
        "compacted again after them, a raw folder never compacted, late files, a rebuilt base) "
        "are rebuilt from the oldest to the newest, in one run, in date order.",
    )
    def stale_snapshots(context: dg.SensorEvaluationContext, lake: LakeResource):
        request, why = rebuild_request(stream, Inputs(lake.lake(), stream))
        if request is None:
            return dg.SkipReason(why)
        context.log.warning(f"stale {label} snapshots: {why}")
        return request

    @dg.schedule(
        name=names["resync_schedule"],
        cron_schedule="0 5 * * 0",
        execution_timezone=TIMEZONE,
        job=resync_job,
        default_status=schedule_status(OPT_IN),
        description="Sunday 05:00: a fresh DynamoDB extract, its drift check, and the day's "
        "snapshot rebuilt on it (off by default: the ADR limits reads of the service's table).",
    )
    def resync(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = context.scheduled_execution_time or datetime.now()
        return dg.RunRequest(partition_key=day.strftime("%Y-%m-%d"))

    jobs = [events_job, resync_job, daily_job, pipeline_job, rebuild_job]
    return jobs, [event_files, stale_snapshots], [resync]
