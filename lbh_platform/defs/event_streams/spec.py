"""An event-streamed entity as a source spec: ``initial_state`` (DynamoDB), ``events`` (+
quarantine) compacted from the Kafka sink's files, ``snapshot`` (+ deletions) applying them.

New event files start the ``events`` partition of their import date (file sensor); the
snapshot follows by automation. Snapshots that no longer hold every event of their window (a
day compacted again after them, late files) are rebuilt in date order, oldest to newest, in one
run (stale-snapshot sensor). The initial extract runs on demand, or weekly once its schedule is
switched on. Every entity of ``config/event_streams.yaml`` is one call of
:func:`event_stream_source`: no code per entity.
"""

import functools
import json
from datetime import date, datetime, timedelta

from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.common.lineage import partition_key
from lbh_platform.common.stage_report import StageReport
from lbh_platform.event_streams import housekeeping, rules, stages
from lbh_platform.event_streams.history import catalog_name as history_catalog_name
from lbh_platform.event_streams.history import describe_history_location, history_of
from lbh_platform.event_streams.inputs import Inputs, describe_problems, digest
from lbh_platform.event_streams.locations import describe_location
from lbh_platform.event_streams.sink import EventFiles
from lbh_platform.event_streams.spec import EventStream
from lbh_platform.event_streams.watch import DEFAULT_LOOKBACK, changed_days, load_cursor
from lbh_platform.history import from_snapshots
from lbh_platform.history import stage as history_stage
from lbh_platform.lib.roles import EVENT_FILES, OPT_IN
from lbh_platform.lib.spec import (
    Asset,
    Check,
    Housekeeping,
    Job,
    Schedule,
    Sensor,
    SensorRequest,
    SensorTick,
    SourceSpec,
    Step,
    StepContext,
    Unit,
    stage_path,
)
from lbh_platform.storage.lake import Lake

# How far before the newest snapshot the stale-snapshot sensor looks (a day compacted again
# further back is rebuilt by hand: a backfill of the snapshot from that day on).
STALE_LOOKBACK_DAYS = 31
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def resource_key(stream: EventStream) -> str:
    return f"{stream.name}_dynamo"


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


def stage_key(stream: EventStream, stage: str) -> tuple[str, ...]:
    """The asset key of one of the entity's stages (by the one rule, :func:`asset_path`)."""
    [unit] = event_stream_source(stream, {}).units
    return stage_path(stream.name, unit, stage)


def _checks(stream: EventStream) -> dict[str, tuple[Check, ...]]:
    label = stream.label
    return {
        "initial_state": (
            Check(
                "id_unique",
                "Every DynamoDB item once, with an id (overlapping scan segments would break "
                "this).",
                lambda lake, v: rules.stage_id_outcome(lake, stream, "initial_state", v),
                blocking=True,
            ),
            Check(
                "consistent_with_snapshot",
                "The fresh extract against the newest snapshot built from events: entities "
                "missing, extra or changed (drift between DynamoDB and the applied events).",
                lambda lake, v: rules.consistency_outcome(lake, stream, v),
                error=False,
            ),
        ),
        "events": (
            Check(
                "every_event_parsed",
                "No event of the day was quarantined (reasons per file in the metadata).",
                lambda lake, v: rules.quarantine_outcome(lake, stream, v),
                error=False,
            ),
            Check(
                "raw_files_compacted",
                "The day's raw event files (both folder layouts) are the ones compacted: same "
                "count and newest file time, every event read accounted for. Fails when files "
                "landed after the compaction (compact the day again).",
                lambda lake, v: rules.raw_files_outcome(lake, stream, v),
                blocking=True,
            ),
            Check(
                "every_field_in_schema",
                f"Every field of the day's {label} events is in the configured Avro schema "
                "(a newer schema version's fields are counted here, not stored).",
                lambda lake, v: rules.fields_outcome(lake, stream, v),
                error=False,
            ),
        ),
        "snapshot": (
            Check(
                "id_unique",
                f"One row per {label} id, never null.",
                lambda lake, v: rules.stage_id_outcome(lake, stream, "snapshot", v),
            ),
            Check(
                "unknown_entity_events_reported",
                "Every event applied to an entity the state did not know (an update or "
                "deletion with no row and no tombstone) was reported, recounted from the "
                "snapshot's recorded inputs.",
                lambda lake, v: rules.unknown_events_outcome(lake, stream, v),
            ),
            Check(
                "every_event_applied",
                "The snapshot proves its inputs: its base and every events partition of its "
                "window are applied as they are now (no raw folder uncompacted, none "
                "compacted again since, no late files left out).",
                lambda lake, v: rules.inputs_outcome(lake, stream, v),
                blocking=True,
            ),
        ),
    }


def _unit(stream: EventStream) -> Unit:
    checks = _checks(stream)
    dynamo = resource_key(stream)

    def extract(ctx: StepContext, day: date) -> list[StageReport]:
        # One scan per run: a backfill of several days writes the same extract to each.
        scan = ctx.memo.setdefault("scan", functools.cache(ctx.resources[dynamo].scan))
        return [stages.extract_initial_state(ctx.lake, stream, day, scan)]

    def compact(ctx: StepContext, day: date) -> list[StageReport]:
        return stages.compact_events(ctx.lake, stream, day)

    def apply(ctx: StepContext, day: date) -> list[StageReport]:
        return stages.build_snapshot(ctx.lake, stream, day, ctx.engine)

    def history(ctx: StepContext, day: date) -> list[StageReport]:
        source = history_of(ctx.lake, stream)
        return [from_snapshots.update(source, yyyymmdd(day), ctx.engine)]

    def asset(stage: str, description: str, **extra) -> Asset:
        return Asset(
            stage,
            description,
            describe_location(stream, stage),
            checks=checks.get(stage, ()),
            personal=stream.personal(stage),
            catalog=stream.catalog_name(stage),
            **extra,
        )

    return Unit(
        name=stream.name,
        path=(),
        label=stream.table,
        pool=stream.name,
        steps=(
            Step(
                f"{stream.name}_initial_state",
                (
                    asset(
                        "initial_state",
                        f"The whole `{stream.dynamodb_table}` DynamoDB table ({stream.label}), "
                        "read with a parallel scan: canonical snake_case columns from the "
                        "topic's Avro schema (nested records kept nested; null-date sentinels "
                        "as null), other attributes typed or as JSON text, and import columns. "
                        "Re-run at any time to re-sync.",
                        kinds=frozenset({"python", "parquet", "dynamodb"}),
                    ),
                ),
                extract,
                resources=(dynamo,),
            ),
            Step(
                f"{stream.name}_compact_events",
                (
                    asset(
                        "events",
                        f"The day's `{stream.topic}` change events (one Parquet file each from "
                        "the Kafka S3 sink) as one typed table in event-time order, "
                        "redeliveries collapsed.",
                        volume=True,
                    ),
                    asset(
                        "events_quarantine",
                        "Events of the day that could not be used, with file, line and reason.",
                        label=stream.name,
                    ),
                ),
                compact,
            ),
            Step(
                f"{stream.name}_apply_events",
                (
                    # A missing initial_state partition must not hold the snapshot back (most
                    # days have none); a re-sync runs both together (the <name>_resync job).
                    asset(
                        "snapshot",
                        f"Every {stream.label} entity as of the day: the previous snapshot (or "
                        "a newer initial extract) with every events partition since applied in "
                        "event-time order (raw folders not yet compacted are compacted first), "
                        "on the configured engine (`LBH_ENGINE`).",
                        freshness=True,
                        deps=("events", "initial_state"),
                        eager=True,
                        eager_ignores=("initial_state",),
                    ),
                    asset(
                        "deletions",
                        "Tombstones (id, deleted_at, event_id) recorded while building the "
                        "day's snapshot.",
                        label=stream.name,
                        deps=("events",),
                        eager=True,
                    ),
                ),
                apply,
            ),
            Step(
                f"{stream.name}_history",
                (
                    history_stage.history_asset(
                        stream.label,
                        f"`{stream.key}`",
                        "snapshots' changes (entities new or different since the snapshot "
                        "before, and entities gone from it), re-syncs included",
                        describe_history_location(stream),
                        lambda lake, v: from_snapshots.behind(history_of(lake, stream), v),
                        deps=("snapshot",),
                        personal=stream.personal("snapshot"),
                        catalog=history_catalog_name(stream),
                    ),
                ),
                history,
            ),
        ),
    )


def _file_sensor(stream: EventStream, job: str):
    def evaluate(lake: Lake, cursor: str | None) -> SensorTick:
        files = EventFiles(lake, stream.topic)
        changed, new_cursor = changed_days(files, load_cursor(cursor), DEFAULT_LOOKBACK)
        requests = [
            SensorRequest(partition=partition_key(value), run_key=f"{job}:{value}:{seen}")
            for value, seen in changed
        ]
        return SensorTick(
            requests=requests,
            cursor=json.dumps(new_cursor),
            skip_reason=f"no new {stream.label} event files",
        )

    return evaluate


def rebuild_request(
    stream: EventStream, inputs: Inputs, job: str
) -> tuple[SensorRequest | None, str]:
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
    request = SensorRequest(
        run_key=f"{job}:{first}:{last}:{digest(stale)}",
        tags={RANGE_START: partition_key(first), RANGE_END: partition_key(last)},
    )
    return request, why


def _stale_sensor(stream: EventStream, job: str):
    def evaluate(lake: Lake, cursor: str | None) -> SensorTick:
        request, why = rebuild_request(stream, Inputs(lake, stream), job)
        if request is None:
            return SensorTick(skip_reason=why)
        return SensorTick(requests=[request], warnings=[f"stale {stream.label} snapshots: {why}"])

    return evaluate


def event_stream_source(stream: EventStream, resources: dict) -> SourceSpec:
    """One configured entity: every stage, check, job, sensor and schedule, with the
    snapshot's daily freshness check and the events' volume check."""
    name, label, names = stream.name, stream.label, job_names(stream)
    jobs = (
        Job(
            names["events"],
            f"Compact one day's {label} event files (started by the file sensor).",
            ("events", "events_quarantine"),
        ),
        Job(
            names["resync"],
            "Re-read DynamoDB (with the drift check), then rebuild the day's snapshot on the "
            "fresh extract and that day's events.",
            ("initial_state", "snapshot", "deletions", "history"),
        ),
        Job(
            names["daily"],
            "One day's events compacted and applied to the snapshot (no DynamoDB read).",
            ("events", "events_quarantine", "snapshot", "deletions", "history"),
        ),
        Job(names["pipeline"], f"Every {label} asset with its checks (manual runs, demos).", ()),
        Job(
            names["rebuild"],
            "Rebuild a range of snapshots in date order (started by the stale-snapshot sensor).",
            ("snapshot", "deletions", "history"),
        ),
    )
    return SourceSpec(
        name=name,
        group=name,
        units=(_unit(stream),),
        jobs=jobs,
        schedules=(
            Schedule(
                names["resync_schedule"],
                names["resync"],
                "0 5 * * 0",
                "Sunday 05:00: a fresh DynamoDB extract, its drift check, and the day's "
                "snapshot rebuilt on it (off by default: the ADR limits reads of the service's "
                "table).",
                role=OPT_IN,
            ),
        ),
        sensors=(
            Sensor(
                names["file_sensor"],
                names["events"],
                f"New {label} event files in an import_date folder request that day's events "
                "partition (cursor: a fingerprint of each recent folder's file names).",
                _file_sensor(stream, names["events"]),
                role=EVENT_FILES,
            ),
            Sensor(
                names["stale_sensor"],
                names["rebuild"],
                f"{label.capitalize()} snapshots that miss events of their window (a day "
                "compacted again after them, a raw folder never compacted, late files, a "
                "rebuilt base) are rebuilt from the oldest to the newest, in one run, in date "
                "order.",
                _stale_sensor(stream, names["rebuild"]),
                interval_seconds=300,
            ),
        ),
        resources=resources,
        housekeeping=Housekeeping(
            housekeeping.SOURCE,
            (stream.name,),
            lambda lake: housekeeping.snapshot_tables(lake, stream),
            lambda lake, _, path: housekeeping.stream_targets(lake, stream, path),
        ),
    )
