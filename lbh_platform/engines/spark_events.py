"""Event application on Spark DataFrames: the rules of :mod:`lbh_platform.common.event_state`.

The single-machine implementation walks the events in event-time order and keeps one entry per
entity (present with the event that produced it, deleted with its tombstone, or unknown). Every
decision is per entity, so on Spark it is a fold per id:

1. the events get their event-time rank within their id (a window per id: event time, Kafka
   partition and offset, file and line, then input position, as ``order_events``' stable sort);
2. each id's events are gathered (one group per id, ordered by that rank) next to the id's
   starting entry: its base row (the row's ``last_event_time/id``) or else its newest earlier
   tombstone;
3. Spark's ``aggregate`` higher-order function folds the events with exactly the rules of the
   Python loop, giving the outcome of every event and the id's final entry;
4. the new state is the base anti-joined with the ids whose row changed, unioned with the
   events that produced the final rows (joined back by id and input position); the tombstones
   are the applied deletions.

Nothing is collected to the driver but the counts per outcome and the (event_id, id, action)
of events applied to unknown entities, which the snapshot records in its footer anyway; there
is no global sort (the unknown-entity events are put in event order on the driver).
"""

from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lbh_platform.common.errors import DataError
from lbh_platform.common.event_state import EVENT_HEADER, OUTCOMES, TOMBSTONE_SCHEMA, EventModel
from lbh_platform.engines.base import AppliedEvents

POSITION = "_lbh_pos"
RANK = "_lbh_rank"
UNKNOWN = ("unknown_entity_updated", "unknown_entity_deleted")
DELETIONS = ("deleted", "unknown_entity_deleted")
SKIPPED = ("stale", "already_applied")


def spark_type(arrow: pa.DataType) -> T.DataType:
    """The Spark type that round-trips through parquet to ``arrow`` (all fields nullable)."""
    if pa.types.is_struct(arrow):
        return T.StructType([T.StructField(f.name, spark_type(f.type), True) for f in arrow])
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return T.ArrayType(spark_type(arrow.value_type), True)
    if pa.types.is_timestamp(arrow):
        return T.TimestampType() if arrow.tz else T.TimestampNTZType()
    scalars = {
        pa.string(): T.StringType(),
        pa.large_string(): T.StringType(),
        pa.bool_(): T.BooleanType(),
        pa.float64(): T.DoubleType(),
        pa.float32(): T.FloatType(),
        pa.int64(): T.LongType(),
        pa.int32(): T.IntegerType(),
        pa.date32(): T.DateType(),
    }
    if arrow in scalars:
        return scalars[arrow]
    raise ValueError(f"no Spark type for {arrow}")


def spark_schema(schema: pa.Schema) -> T.StructType:
    return T.StructType([T.StructField(f.name, spark_type(f.type), True) for f in schema])


def _null(target: T.DataType) -> Column:
    return F.lit(None).cast(target)


def conform_column(column: Column, source: T.DataType | None, target: T.DataType) -> Column:
    """``column`` (of type ``source``; None: absent) as ``target``, nested structs matched by
    field name as pyarrow's cast does: absent fields null, other fields dropped."""
    if source is None or isinstance(source, T.NullType):
        return _null(target)
    if source.simpleString() == target.simpleString():
        return column
    if isinstance(target, T.StructType) and isinstance(source, T.StructType):
        fields = {f.name: f.dataType for f in source.fields}
        built = F.struct(
            *[
                conform_column(
                    column.getField(f.name) if f.name in fields else F.lit(None),
                    fields.get(f.name),
                    f.dataType,
                ).alias(f.name)
                for f in target.fields
            ]
        )
        return F.when(column.isNotNull(), built)
    if isinstance(target, T.ArrayType) and isinstance(source, T.ArrayType):
        return F.transform(
            column, lambda item: conform_column(item, source.elementType, target.elementType)
        )
    return column.cast(target)


def conform(frame: DataFrame, schema: pa.Schema, keep: tuple[str, ...] = ()) -> DataFrame:
    """``frame`` with exactly ``schema``'s columns (plus ``keep``), in order and type."""
    types = {f.name: f.dataType for f in frame.schema.fields}
    columns = [
        conform_column(
            F.col(f"`{f.name}`") if f.name in types else F.lit(None),
            types.get(f.name),
            spark_type(f.type),
        ).alias(f.name)
        for f in schema
    ]
    return frame.select(*columns, *[F.col(f"`{k}`") for k in keep])


def _empty(spark: SparkSession, schema: pa.Schema) -> DataFrame:
    return spark.createDataFrame([], spark_schema(schema))


def _merge(acc: Column, event: Column) -> Column:
    """One step of the per-entity fold: the Python loop of ``event_state.apply_events``.

    ``acc``: kind (0 unknown, 1 present, 2 deleted), time and event id of the entry, ``row``
    (input position of the event whose state is the row; null: the base row) and ``outs``
    (the outcome of every event so far)."""
    present = acc["kind"] == 1
    deleted = acc["kind"] == 2
    moment = event["event_time"]
    newer = acc["time"] > moment  # null (a base row without an event) is never newer
    same_event = acc["eid"] == event["event_id"]
    is_deletion = F.coalesce(event["action"] == "deleted", F.lit(False))
    deletion = (
        F.when(present & newer, "stale")
        .when(present, "deleted")
        .when(deleted & same_event, "already_applied")
        .when(deleted & (acc["time"] >= moment), "stale")
        .when(deleted, "deleted")  # a later second deletion: recorded, nothing to remove
        .otherwise("unknown_entity_deleted")
    )
    upsert = (
        F.when(present & same_event, "already_applied")
        .when(present & newer, "stale")
        .when(present, "updated")
        .when(deleted & (acc["time"] >= moment), "stale")
        .when(deleted, "inserted")  # re-created after its deletion
        .when(event["action"] == "created", "inserted")
        .otherwise("unknown_entity_updated")
    )
    outcome = F.when(is_deletion, deletion).otherwise(upsert)
    applied = ~outcome.isin(*SKIPPED)
    return F.struct(
        F.when(applied, F.when(is_deletion, 2).otherwise(1)).otherwise(acc["kind"]).alias("kind"),
        F.when(applied, moment).otherwise(acc["time"]).alias("time"),
        F.when(applied, event["event_id"]).otherwise(acc["eid"]).alias("eid"),
        F.when(applied & ~is_deletion, event[POSITION])
        .when(applied, F.lit(None).cast("long"))
        .otherwise(acc["row"])
        .alias("row"),
        F.concat(acc["outs"], F.array(outcome)).alias("outs"),
    )


def _starting_entries(
    model: EventModel, state: DataFrame, tombstones: DataFrame | None, ids: DataFrame
) -> DataFrame:
    """Per touched id, its entry before the events: ``kind`` 1 with its base row's
    (last_event_time, last_event_id), else ``kind`` 2 with its newest earlier tombstone
    (deleted_at, event_id). Ties as the Python code's dict updates: the last base row read, the
    later tombstone read. One union and one window per id."""
    key = model.id_column
    entry = [key, "kind", "time", "eid", "_newest", POSITION]
    candidates = state.select(
        key,
        F.lit(1).alias("kind"),
        F.col("last_event_time").alias("time"),
        F.col("last_event_id").alias("eid"),
        _null(T.TimestampType()).alias("_newest"),
        F.monotonically_increasing_id().alias(POSITION),
    )
    if tombstones is not None:
        needed = {"id", "deleted_at", "event_id"}
        if needed <= set(tombstones.columns):
            deleted_at = conform_column(
                F.col("deleted_at"), tombstones.schema["deleted_at"].dataType, T.TimestampType()
            )
            candidates = candidates.unionByName(
                tombstones.select(
                    F.col("id").cast("string").alias(key),
                    F.lit(2).alias("kind"),
                    deleted_at.alias("time"),
                    F.col("event_id").cast("string").alias("eid"),
                    deleted_at.alias("_newest"),
                    F.monotonically_increasing_id().alias(POSITION),
                ).select(*entry)
            )
        elif tombstones.limit(1).count():
            missing = sorted(needed - set(tombstones.columns))
            raise DataError(f"{model.entity} tombstones lack {missing}")
    first = Window.partitionBy(key).orderBy(
        F.col("kind").asc(), F.col("_newest").desc_nulls_last(), F.col(POSITION).desc()
    )
    return (
        candidates.join(ids, key, "left_semi")
        .withColumn("_n", F.row_number().over(first))
        .filter("_n = 1")
        .select(
            key,
            F.col("kind").alias("_kind"),
            F.col("time").alias("_time"),
            F.col("eid").alias("_eid"),
        )
    )


def apply_events(
    spark: SparkSession,
    model: EventModel,
    base: DataFrame,
    events: DataFrame,
    tombstones: DataFrame | None,
    snapshot_value: str | None,
) -> AppliedEvents:
    key = model.id_column
    order_columns = list(model.order_columns)
    # The events columns the fold needs besides the state (their order included).
    header = list(dict.fromkeys([*EVENT_HEADER[:2], *order_columns]))
    state = conform(base, model.state_schema)
    base_rows = state.count()
    counts = dict.fromkeys(OUTCOMES, 0)
    if not events.columns:  # no events partition read
        return AppliedEvents(
            _with_snapshot(state, snapshot_value),
            _empty(spark, TOMBSTONE_SCHEMA),
            counts,
            [],
            base_rows,
            0,
        )
    fields = [*header, *model.entity_columns]
    needed = pa.schema([model.event_schema.field(c) for c in fields])
    # The input position breaks full ties as the Arrow engine's stable sort does; the cache
    # pins it (and the conformed rows) for the join back below.
    positioned = events.withColumn(POSITION, F.monotonically_increasing_id())
    conformed = conform(positioned, needed, keep=(POSITION,)).cache()
    order = [F.col(c).asc_nulls_last() for c in order_columns] + [F.col(POSITION).asc()]
    keys = [RANK, POSITION, *header]
    grouped = (
        conformed.select(key, POSITION, *header)
        .withColumn(RANK, F.row_number().over(Window.partitionBy(key).orderBy(*order)))
        .groupBy(key)
        .agg(F.array_sort(F.collect_list(F.struct(*keys))).alias("events"))
    )
    starting = grouped.join(
        _starting_entries(model, state, tombstones, grouped.select(key)), key, "left"
    )
    zero = F.struct(
        F.coalesce(F.col("_kind"), F.lit(0)).alias("kind"),
        F.col("_time").cast(T.TimestampType()).alias("time"),
        F.col("_eid").cast(T.StringType()).alias("eid"),
        F.lit(None).cast("long").alias("row"),
        F.array().cast(T.ArrayType(T.StringType(), True)).alias("outs"),
    )
    folded = starting.select(
        key, "events", F.aggregate("events", zero, _merge).alias("entry")
    ).cache()

    outcomes = folded.select(
        key,
        F.explode(
            F.transform(
                "events",
                lambda event, i: event.withField(
                    "outcome", F.element_at(F.col("entry.outs"), i + 1)
                ),
            )
        ).alias("event"),
    ).select(key, "event.*")
    # One small job: the count per outcome and the few events applied to unknown entities.
    unknown_event = F.struct(
        "event_id",
        key,
        "action",
        # the instant as a number: Python datetimes from Spark are local wall time
        *[F.unix_micros(c).alias(c) if c == "event_time" else c for c in order_columns],
        POSITION,
    )
    summary = (
        outcomes.groupBy("outcome")
        .agg(
            F.count(F.lit(1)).alias("events"),
            F.collect_list(F.when(F.col("outcome").isin(*UNKNOWN), unknown_event)).alias("unknown"),
        )
        .collect()
    )
    unknown_rows = []
    for row in summary:
        counts[row["outcome"]] = int(row["events"])
        unknown_rows.extend(row["unknown"])
    unknown = [
        {"event_id": r["event_id"], "id": r[key], "action": r["action"]}
        for r in sorted(unknown_rows, key=lambda row: _event_order(row, order_columns))
    ]
    new_tombstones = outcomes.filter(F.col("outcome").isin(*DELETIONS)).select(
        F.col(key).alias("id"),
        F.col("event_time").alias("deleted_at"),
        "event_id",
        (F.col("outcome") == "deleted").alias("entity_known"),
    )

    keeps_base_row = (F.col("entry.kind") == 1) & F.col("entry.row").isNull()
    replaced = folded.filter(~keeps_base_row).select(key)
    chosen = folded.filter((F.col("entry.kind") == 1) & F.col("entry.row").isNotNull()).select(
        key, F.col("entry.row").alias(POSITION)
    )
    from_events = conformed.join(chosen, [key, POSITION], "inner").select(
        *[F.col(c) for c in model.entity_columns],
        F.col("event_time").alias("last_event_time"),
        F.col("event_id").alias("last_event_id"),
        F.col("action").alias("last_event_action"),
    )
    merged = state.join(replaced, key, "left_anti").unionByName(from_events)
    return AppliedEvents(
        _with_snapshot(merged, snapshot_value),
        new_tombstones,
        counts,
        unknown,
        base_rows,
        sum(counts.values()),  # every event has exactly one outcome
    )


def _event_order(row: Any, order_columns: list[str]) -> tuple:
    """``order_events``' order (nulls last), then input position, for a few collected rows."""
    key: list = []
    for name in order_columns:
        value = row[name]
        key.extend((value is None, value if value is not None else 0))
    key.append(row[POSITION])
    return tuple(key)


def _with_snapshot(state: DataFrame, value: str | None) -> DataFrame:
    if value is None:
        return state
    return (
        state.withColumn("snapshot_year", F.lit(value[:4]))
        .withColumn("snapshot_month", F.lit(value[4:6]))
        .withColumn("snapshot_day", F.lit(value[6:]))
        .withColumn("snapshot_date", F.lit(value))
    )
