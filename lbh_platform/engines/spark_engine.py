"""The scale-out engine: the same transforms on Spark DataFrames.

Same rules as the single-machine engine (the cast regexes and sets are imported from it), same
layout on disk. Nothing is collected to the driver but counts and the list of JSON keys; the
snapshot is an anti-join plus a union, and deduplication is a window per id, not a sort of
the whole table. Tenure event application lives in :mod:`lbh_platform.engines.spark_events`.
"""

import contextlib
import uuid
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lbh_platform.common.errors import DataError
from lbh_platform.common.event_state import EventModel
from lbh_platform.common.import_columns import SNAPSHOT_COLUMNS
from lbh_platform.common.recast import (
    FALSE_TEXTS,
    FLOAT_RE,
    INT32_RANGE,
    INT_RE,
    NULL_DATES,
    TEMPORAL_RE,
    TRUE_TEXTS,
)
from lbh_platform.common.rows import LAST_UPDATED
from lbh_platform.engines import spark_events
from lbh_platform.engines.base import AppliedEvents, Parsed, Recast, Snapshot, WrittenSnapshot
from lbh_platform.storage.partitioned_table import PartitionedTable, WriteResult

if TYPE_CHECKING:
    from lbh_platform.engines.spark_history import SparkHistory

# Session settings the engine relies on for identical results and layout.
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",  # catalogue timestamps are London wall time
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
}

_SPARK_TYPES = {
    "integer": T.IntegerType(),
    "long": T.LongType(),
    "float": T.DoubleType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "timestamp": T.TimestampNTZType(),
    "date": T.DateType(),
}


def spark_uri(table: PartitionedTable, path: str) -> str:
    """A path of the table's filesystem as a URI Spark (Hadoop) can open."""
    if table.fs.type_name == "s3":
        return f"s3a://{path}"
    return f"file://{path}"


def _nullable(arrow: pa.DataType) -> pa.DataType:
    """``arrow`` with every nested field nullable (names kept)."""
    if pa.types.is_struct(arrow):
        return pa.struct([pa.field(f.name, _nullable(f.type), True) for f in arrow])
    if pa.types.is_list(arrow):
        item = arrow.value_field
        return pa.list_(pa.field(item.name, _nullable(item.type), True))
    if pa.types.is_large_list(arrow):
        item = arrow.value_field
        return pa.large_list(pa.field(item.name, _nullable(item.type), True))
    return arrow


def nullable_copy(
    fs: pafs.FileSystem, source: str, target: str, notes: dict[str, str] | None
) -> bool:
    """Copy the parquet file ``source`` to ``target`` with every field nullable, as the Arrow
    engine writes them, adding ``notes`` to the footer; False (nothing written) when every
    field already is.

    Spark marks literals, comparisons and the like NOT NULL and stores them REQUIRED, which
    pyarrow reads as ``not null``: without this the two engines' files would differ in schema.
    The copy streams one row group at a time.
    """
    with fs.open_input_file(source) as handle:
        parquet = pq.ParquetFile(handle)
        schema = parquet.schema_arrow
        wanted = pa.schema(
            [pa.field(f.name, _nullable(f.type), True) for f in schema],
            metadata={
                **(schema.metadata or {}),
                **{k.encode(): v.encode() for k, v in (notes or {}).items()},
            },
        )
        if wanted.equals(schema, check_metadata=False):
            return False
        with (
            fs.open_output_stream(target) as sink,
            pq.ParquetWriter(sink, wanted, compression="snappy") as writer,
        ):
            for batch in parquet.iter_batches():
                writer.write_batch(batch.cast(wanted))
    return True


def _null_string() -> Column:
    return F.lit(None).cast("string")


def _trimmed(column: str) -> Column:
    return F.regexp_replace(F.col(f"`{column}`"), r"^\s+|\s+$", "")


class SparkEngine:
    name = "spark"

    def __init__(self, spark: SparkSession):
        self.spark = spark
        for key, value in SPARK_CONF.items():
            spark.conf.set(key, value)

    # ------------------------------------------------------------------ I/O

    def read(self, table: PartitionedTable, values: list[str]) -> DataFrame:
        frames = [
            self.spark.read.parquet(spark_uri(table, table.partition_dir(v))).withColumn(
                table.partition_column, F.lit(v)
            )
            for v in values
        ]
        if not frames:
            return self.spark.createDataFrame([], T.StructType([]))
        merged = frames[0]
        for frame in frames[1:]:
            merged = merged.unionByName(frame, allowMissingColumns=True)
        return merged

    def write(
        self,
        table: PartitionedTable,
        value: str,
        frame: DataFrame,
        notes: dict[str, str] | None = None,
    ) -> WriteResult:
        """Spark writes one file under a hidden temporary folder; it is then published by the
        same atomic move as the other engine uses, so the layout is identical (a file with
        NOT NULL fields is first copied with every field nullable, see :func:`nullable_copy`)."""
        if table.partition_column in frame.columns:
            frame = frame.drop(table.partition_column)
        staging = f"{table.base}/_tmp-spark-{uuid.uuid4().hex}"
        try:
            frame.coalesce(1).write.mode("overwrite").parquet(spark_uri(table, staging))
            parts = [
                info.path
                for info in table.fs.get_file_info(pafs.FileSelector(staging))
                if info.path.rsplit("/", 1)[-1].startswith("part-")
                and info.path.endswith(".parquet")
            ]
            if len(parts) != 1:
                raise DataError(f"{table.location(value)}: Spark wrote {len(parts)} files, not 1")
            nullable = f"{staging}/_nullable.parquet"
            if nullable_copy(table.fs, parts[0], nullable, notes):
                return table.publish_file(value, nullable)  # notes already in its footer
            return table.publish_file(value, parts[0], notes)
        finally:
            with contextlib.suppress(FileNotFoundError, OSError):
                table.fs.delete_dir(staging)

    def count(self, frame: DataFrame) -> int:
        return frame.count()

    def columns(self, frame: DataFrame) -> list[str]:
        return list(frame.columns)

    # ------------------------------------------------------------------ transforms

    def parse(self, raw: DataFrame, resource: str) -> Parsed:
        if resource not in raw.columns:
            raise DataError(f"tascomi {resource}: raw rows lack the record column {resource!r}")
        rows_in = raw.count()
        ok = raw.filter((F.col("import_api_status_code") == 200) & F.col(resource).isNotNull())
        ok_rows = ok.count()
        first = Window.partitionBy(resource).orderBy(F.col("page_number").asc_nulls_last())
        unique = ok.withColumn("_n", F.row_number().over(first)).filter("_n = 1").drop("_n")
        unique = unique.cache()
        kept = unique.count()
        keys = [
            r[0]
            for r in unique.select(F.explode(F.json_object_keys(F.col(resource))))
            .distinct()
            .collect()
        ]
        metadata = [c for c in unique.columns if c != resource]
        keys = sorted(k for k in keys if k not in metadata)
        record = [
            F.get_json_object(F.col(resource), "$['" + k.replace("'", "\\'") + "']").alias(k)
            for k in keys
        ]
        frame = unique.select(*record, *[F.col(f"`{c}`") for c in metadata])
        return Parsed(frame, rows_in, rows_in - ok_rows, ok_rows - kept)

    def _cast(self, column: str, kind: str) -> tuple[Column, Column]:
        trimmed = _trimmed(column)
        nullish = trimmed.isNull() | (trimmed == "")
        if kind in ("timestamp", "date"):
            nullish = nullish | trimmed.isin(NULL_DATES)
        value = F.when(nullish, _null_string()).otherwise(trimmed)
        if kind in ("integer", "long"):
            wide = F.when(value.rlike(INT_RE), value).try_cast("bigint")
            if kind == "integer":
                lo, hi = INT32_RANGE
                wide = F.when((wide >= lo) & (wide <= hi), wide)
            return wide.cast(_SPARK_TYPES[kind]), nullish
        if kind in ("float", "double"):
            return F.when(value.rlike(FLOAT_RE), value).try_cast("double"), nullish
        if kind == "boolean":
            lowered = F.lower(value)
            cast = F.when(lowered.isin(TRUE_TEXTS), F.lit(True)).when(
                lowered.isin(FALSE_TEXTS), F.lit(False)
            )
            return cast.cast("boolean"), nullish
        if kind in ("timestamp", "date"):
            candidate = F.when(value.rlike(TEMPORAL_RE), value)
            day = F.substring(candidate, 1, 10)
            if kind == "date":
                return F.try_to_date(day, "yyyy-MM-dd").cast("date"), nullish
            clock = F.when(F.length(candidate) > 10, F.substring(candidate, 12, 8)).otherwise(
                F.lit("00:00:00")
            )
            moment = F.concat_ws(" ", day, clock)
            cast = F.try_to_timestamp(moment, F.lit("yyyy-MM-dd HH:mm:ss"))
            return cast.cast(T.TimestampNTZType()), nullish
        raise ValueError(f"unknown column type {kind!r}")

    def recast(self, parsed: DataFrame, column_types: dict[str, str]) -> Recast:
        string_columns = {
            f.name
            for f in parsed.schema.fields
            if isinstance(f.dataType, T.StringType | T.NullType)
        }
        selected: list[Column] = []
        failures: list[Column] = []
        for name in parsed.columns:
            kind = column_types.get(name)
            if kind is None or name not in string_columns:
                selected.append(F.col(f"`{name}`"))
                continue
            cast, nullish = self._cast(name, kind)
            selected.append(cast.alias(name))
            failures.append(F.sum(F.when(~nullish & cast.isNull(), 1).otherwise(0)).alias(name))
        frame = parsed.select(*selected)
        counts: dict[str, int] = {}
        rows = 0
        if failures:
            totals = parsed.agg(F.count(F.lit(1)).alias("__rows__"), *failures).first()
            rows = totals["__rows__"]
            counts = {k: int(v) for k, v in totals.asDict().items() if k != "__rows__" and v}
        else:
            rows = parsed.limit(1).count()
        missing = [c for c in column_types if c not in parsed.columns] if rows else []
        return Recast(frame, counts, missing)

    def apply_increment(
        self, base: Any | None, increments: DataFrame, id_column: str, snapshot_value: str
    ) -> Snapshot:
        if increments.columns and id_column not in increments.columns:
            raise DataError(f"increments have no id column {id_column!r}")
        increment_rows = increments.count()
        latest = increments
        without_id = 0
        if increment_rows:
            without_id = increments.filter(F.col(id_column).isNull()).count()
            order = []
            if LAST_UPDATED in increments.columns:
                order.append(F.col(LAST_UPDATED).desc_nulls_last())
            if "import_date" in increments.columns:
                order.append(F.col("import_date").desc_nulls_last())
            if "page_number" in increments.columns:
                order.append(F.col("page_number").desc_nulls_last())
            window = Window.partitionBy(id_column).orderBy(*(order or [F.lit(1)]))
            latest = (
                increments.filter(F.col(id_column).isNotNull())
                .withColumn("_n", F.row_number().over(window))
                .filter("_n = 1")
                .drop("_n")
            )
        latest = latest.drop(*[c for c in SNAPSHOT_COLUMNS if c in latest.columns])
        base_rows = 0
        replaced = 0
        if base is not None:
            base = base.drop(*[c for c in SNAPSHOT_COLUMNS if c in base.columns])
            base_rows = base.count()
        if base is not None and base_rows and increment_rows:
            if id_column not in base.columns:
                raise DataError(f"previous snapshot has no id column {id_column!r}")
            base_type = base.schema[id_column].dataType
            ids = latest.select(F.col(id_column).try_cast(base_type).alias(id_column))
            bad = ids.filter(F.col(id_column).isNull()).limit(1).count()
            if bad:
                raise DataError(
                    f"id column {id_column!r} is {base_type.simpleString()} in the snapshot but "
                    f"{latest.schema[id_column].dataType.simpleString()} in the increment"
                )
            latest = latest.withColumn(id_column, F.col(id_column).cast(base_type))
            kept = base.join(ids, on=id_column, how="left_anti")
            replaced = base_rows - kept.count()
            merged = kept.unionByName(latest, allowMissingColumns=True)
        elif base is not None and base_rows:
            merged = base
        else:
            merged = latest
        latest_rows = latest.count() if increment_rows else 0
        day = snapshot_value
        merged = (
            merged.withColumn("snapshot_year", F.lit(day[:4]))
            .withColumn("snapshot_month", F.lit(day[4:6]))
            .withColumn("snapshot_day", F.lit(day[6:]))
            .withColumn("snapshot_date", F.lit(day))
        )
        return Snapshot(
            merged, base_rows, increment_rows, replaced, latest_rows - replaced, without_id
        )

    def write_snapshot(
        self,
        snapshots: PartitionedTable,
        base_value: str | None,
        increments: DataFrame,
        id_column: str,
        snapshot_value: str,
        notes: dict[str, str] | None = None,
    ) -> WrittenSnapshot:
        """Spark plans the anti-join and union lazily and streams them into its write."""
        base = self.read(snapshots, [base_value]) if base_value is not None else None
        result = self.apply_increment(base, increments, id_column, snapshot_value)
        return WrittenSnapshot.published(
            self.write(snapshots, snapshot_value, result.frame, notes), result
        )

    def apply_events(
        self,
        base: DataFrame,
        events: DataFrame,
        tombstones: DataFrame | None = None,
        *,
        model: EventModel,
        snapshot_value: str | None = None,
        what: str = "state",
    ) -> AppliedEvents:
        return spark_events.apply_events(
            self.spark, model, base, events, tombstones, snapshot_value
        )

    def history(self) -> "SparkHistory":
        from lbh_platform.engines.spark_history import SparkHistory

        return SparkHistory(self)
