"""An event-streamed entity's assets: initial_state (DynamoDB), events (+ quarantine),
snapshot (+ deletions), made from its :class:`EventStream` entry."""

import functools
from collections.abc import Callable, Iterator
from datetime import date

import dagster as dg

from lbh_platform.common.stage_report import StageReport
from lbh_platform.defs.common import OWNERS, downstream_condition, run_partitions, to_metadata
from lbh_platform.defs.engine import EngineResource
from lbh_platform.defs.partitions import daily_partitions
from lbh_platform.defs.resources import LakeResource
from lbh_platform.event_streams import stages
from lbh_platform.event_streams.spec import EventStream


def asset_key(stream: EventStream, stage: str) -> dg.AssetKey:
    return dg.AssetKey(list(stream.asset_key(stage)))


def resource_key(stream: EventStream) -> str:
    return f"{stream.name}_dynamo"


def partition_key(value: str) -> str:
    """``YYYYMMDD`` -> the daily partition key ``YYYY-MM-DD``."""
    return f"{value[:4]}-{value[4:6]}-{value[6:]}"


def _spec(stream: EventStream, stage: str, description: str, **extra: object) -> dg.AssetSpec:
    return dg.AssetSpec(
        asset_key(stream, stage),
        description=description,
        group_name=stream.name,
        owners=OWNERS,
        kinds={"python", "parquet"},
        tags={"source": stream.name},
        **extra,
    )


def snapshot_condition(stream: EventStream) -> dg.AutomationCondition:
    """Run when the day's events land (blocking checks passed). A missing initial_state
    partition must not hold it back (most days have none), so initial_state is ignored here;
    a re-sync runs initial_state and snapshot together (the ``<name>_resync`` job)."""
    return downstream_condition().ignore(
        dg.AssetSelection.assets(asset_key(stream, "initial_state"))
    )


def run_with_side_reports(
    context: dg.AssetExecutionContext, build: Callable[[date], list[StageReport]]
) -> Iterator[dg.MaterializeResult]:
    """:func:`run_partitions`, where reports of assets or days the step does not own (events
    partitions a snapshot compacted first) are logged as materialisations of their own."""
    own = set(context.selected_asset_keys)

    def build_own(day: date) -> list[StageReport]:
        mine = []
        for report in build(day):
            key = dg.AssetKey(list(report.key))
            if key in own and partition_key(report.partition) in context.partition_keys:
                mine.append(report)
                continue
            partition = partition_key(report.partition)
            if not daily_partitions.has_partition_key(partition):
                context.log.warning(f"{report.label} {report.partition}: not a daily partition")
                continue
            context.log.warning(
                f"{report.label} {report.partition} materialised by this step first "
                f"({report.rows} rows): its raw folder had not been compacted"
            )
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=key, partition=partition, metadata=to_metadata(report)
                )
            )
        return mine

    yield from run_partitions(context, build_own)


def build_assets(stream: EventStream) -> list[dg.AssetsDefinition]:
    """The three steps of one entity (extract, compaction, application)."""
    pool = stream.name
    dynamo = resource_key(stream)

    @dg.asset(
        key=asset_key(stream, "initial_state"),
        description=(
            f"The whole `{stream.dynamodb_table}` DynamoDB table ({stream.label}), read with a "
            "parallel scan: canonical snake_case columns from the topic's Avro schema (nested "
            "records kept nested; null-date sentinels as null), other attributes typed or as "
            "JSON text, and import columns. Re-run at any time to re-sync."
        ),
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=stream.name,
        owners=OWNERS,
        kinds={"python", "parquet", "dynamodb"},
        tags={"source": stream.name},
        pool=pool,
        required_resource_keys={dynamo, "lake"},  # the table's resource is named per entity
    )
    def initial_state(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        lake: LakeResource = context.resources.lake
        store = lake.lake()
        scan = functools.cache(getattr(context.resources, dynamo).scan)  # one scan per run
        yield from run_partitions(
            context, lambda day: [stages.extract_initial_state(store, stream, day, scan)]
        )

    @dg.multi_asset(
        name=f"{stream.name}_compact_events",
        specs=[
            _spec(
                stream,
                "events",
                f"The day's `{stream.topic}` change events (one Parquet file each from the "
                "Kafka S3 sink) as one typed table in event-time order, redeliveries collapsed.",
            ),
            _spec(
                stream,
                "events_quarantine",
                "Events of the day that could not be used, with file, line and reason.",
            ),
        ],
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=pool,
    )
    def events(
        context: dg.AssetExecutionContext, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult]:
        store = lake.lake()
        yield from run_partitions(context, lambda day: stages.compact_events(store, stream, day))

    condition = snapshot_condition(stream)

    @dg.multi_asset(
        name=f"{stream.name}_apply_events",
        specs=[
            _spec(
                stream,
                "snapshot",
                f"Every {stream.label} entity as of the day: the previous snapshot (or a newer "
                "initial extract) with every events partition since applied in event-time order "
                "(raw folders not yet compacted are compacted first), on the configured engine "
                "(`LBH_ENGINE`).",
                deps=[asset_key(stream, "events"), asset_key(stream, "initial_state")],
                automation_condition=condition,
            ),
            _spec(
                stream,
                "deletions",
                "Tombstones (id, deleted_at, event_id) recorded while building the day's snapshot.",
                deps=[asset_key(stream, "events")],
                automation_condition=condition,
            ),
        ],
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=pool,
    )
    def snapshot(
        context: dg.AssetExecutionContext, lake: LakeResource, engine: EngineResource
    ) -> Iterator[dg.MaterializeResult]:
        store, runner = lake.lake(), engine.get()
        yield from run_with_side_reports(
            context, lambda day: stages.build_snapshot(store, stream, day, runner)
        )

    return [initial_state, events, snapshot]
