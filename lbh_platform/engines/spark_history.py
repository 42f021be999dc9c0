"""The Spark engine's history operations (:class:`lbh_platform.history.engine.HistoryOps`).

The rules of :mod:`lbh_platform.history.exact` as window functions: a row stored open ends
where the next row of its id begins (``lead`` over the id, by ``valid_from``), a tombstone
ends the version before it, second copies of a version are dropped; "as of D" is the newest
valid row per id (``row_number``). A rebuild reads every increment of the batches in one scan
(the import's batch joined on), deduplicates per batch and id, and writes each segment from the
one cached result. Segments are written through ``SparkEngine.write`` (one file, the same
layout), sorted by ``valid_from``.
"""

from typing import TYPE_CHECKING

import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lbh_platform.common.errors import DataError
from lbh_platform.common.rows import LAST_UPDATED
from lbh_platform.history import segments
from lbh_platform.history.arrow_files import group_rows
from lbh_platform.history.batches import Batch
from lbh_platform.history.columns import (
    DROPPED,
    IS_CURRENT,
    IS_DELETED,
    SEGMENT,
    STORED,
    VALID_FROM,
    VALID_TO,
    day,
)
from lbh_platform.history.engine import Compacted, DayWritten, Rebuilt
from lbh_platform.storage.partitioned_table import PartitionedTable, WriteResult

if TYPE_CHECKING:
    from lbh_platform.engines.spark_engine import SparkEngine

_TOMB = "__tombstone"
_NEXT_FROM = "__next_from"
_NEXT_TOMB = "__next_tombstone"
_COPY = "__copy"
_BATCH = "__valid_from"


def _col(name: str) -> Column:
    return F.col(f"`{name}`")


def _latest(frame: DataFrame, id_column: str, partition: list[str]) -> DataFrame:
    """The snapshot's dedupe: latest ``last_updated`` per id (null oldest), ties to the newest
    import, then the later page."""
    order = [
        _col(c).desc_nulls_last()
        for c in (LAST_UPDATED, "import_date", "page_number")
        if c in frame.columns
    ]
    window = Window.partitionBy(*[_col(c) for c in partition]).orderBy(*(order or [F.lit(1)]))
    return (
        frame.filter(_col(id_column).isNotNull())
        .withColumn("_n", F.row_number().over(window))
        .filter("_n = 1")
        .drop("_n")
    )


def _without_history(frame: DataFrame) -> DataFrame:
    return frame.drop(*[c for c in (*DROPPED, *STORED, SEGMENT) if c in frame.columns])


def _open(frame: DataFrame, valid_from: Column, deleted: bool) -> DataFrame:
    return (
        frame.withColumn(VALID_FROM, valid_from.cast("date"))
        .withColumn(VALID_TO, F.lit(None).cast("date"))
        .withColumn(IS_DELETED, F.lit(deleted))
    )


def _resolved(frame: DataFrame, id_column: str) -> DataFrame:
    """``frame`` with its exact ``valid_to``/``is_deleted``, tombstones and copies dropped."""
    key = _col(id_column)
    copies = Window.partitionBy(key, _col(VALID_FROM)).orderBy(_col(VALID_TO).asc_nulls_last())
    following = Window.partitionBy(key).orderBy(_col(VALID_FROM))
    tomb = _col(IS_DELETED) & _col(VALID_TO).isNull()
    ordered = (
        frame.withColumn(_COPY, F.row_number().over(copies))
        .filter(F.col(_COPY) == 1)
        .withColumn(_TOMB, tomb)
        .withColumn(_NEXT_FROM, F.lead(_col(VALID_FROM)).over(following))
        .withColumn(_NEXT_TOMB, F.lead(tomb).over(following))
    )
    return (
        ordered.withColumn(
            IS_DELETED,
            F.when(_col(VALID_TO).isNotNull(), _col(IS_DELETED)).otherwise(
                F.coalesce(F.col(_NEXT_TOMB), F.lit(False))
            ),
        )
        .withColumn(VALID_TO, F.coalesce(_col(VALID_TO), F.col(_NEXT_FROM)))
        .filter(~F.col(_TOMB))
        .drop(_COPY, _TOMB, _NEXT_FROM, _NEXT_TOMB)
    )


def _history_last(frame: DataFrame) -> DataFrame:
    """Record columns first, then the history's (the Arrow engine's order)."""
    record = [c for c in frame.columns if c not in (*STORED, SEGMENT)]
    return frame.select(*[_col(c) for c in record], *[_col(c) for c in STORED])


class SparkHistory:
    """History operations on Spark DataFrames, through ``engine`` (its session and writes)."""

    def __init__(self, engine: "SparkEngine"):
        self.engine = engine
        self.spark = engine.spark

    def _write(
        self, history: PartitionedTable, name: str, frame: DataFrame, notes: dict[str, str]
    ) -> WriteResult:
        ordered = _history_last(frame).repartition(1).sortWithinPartitions(VALID_FROM)
        return self.engine.write(history, name, ordered, notes)

    def _read(self, history: PartitionedTable, names: list[str]) -> DataFrame:
        return self.engine.read(history, names).drop(SEGMENT)

    def _id_type(self, history: PartitionedTable, segment: str, id_column: str) -> T.DataType:
        return self._read(history, [segment]).schema[id_column].dataType

    def write_day(
        self,
        history: PartitionedTable,
        name: str,
        increments: DataFrame,
        id_column: str,
        valid_from: str,
        deleted: pa.Array | None,
        notes: dict[str, str],
        like: str | None = None,
    ) -> DayWritten:
        if increments.columns and id_column not in increments.columns:
            raise DataError(f"increments have no id column {id_column!r}")
        increment_rows = increments.count()
        when = F.lit(day(valid_from))
        parts: list[DataFrame] = []
        without_id = versions = tombstones = 0
        if increments.columns:
            without_id = increments.filter(_col(id_column).isNull()).count()
            latest = _without_history(_latest(increments, id_column, [id_column]))
            if like is not None and increment_rows:
                latest = self._cast_ids(latest, id_column, history, like)
            versions = latest.count()
            parts.append(_open(latest, when, False))
        if deleted is not None and len(deleted):
            ids = self.spark.createDataFrame(pa.table({id_column: deleted}).to_pandas()).distinct()
            if parts:
                ids = ids.withColumn(
                    id_column, _col(id_column).cast(latest.schema[id_column].dataType)
                )
                both = ids.join(latest.select(id_column), on=id_column, how="inner")
                sample = [r[0] for r in both.limit(5).collect()]
                if sample:
                    raise DataError(
                        f"{history.location(name)}: ids both changed and deleted in one batch, "
                        f"e.g. {sample}"
                    )
            tombstones = ids.count()
            parts.append(_open(ids, when, True))
        if not parts:
            raise DataError(f"{history.location(name)}: the batch has no rows and no columns")
        frame = parts[0]
        for part in parts[1:]:
            frame = frame.unionByName(part, allowMissingColumns=True)
        written = self._write(history, name, frame, notes)
        return DayWritten(written, increment_rows, versions, tombstones, without_id)

    def _cast_ids(
        self, latest: DataFrame, id_column: str, history: PartitionedTable, like: str
    ) -> DataFrame:
        wanted = self._id_type(history, like, id_column)
        if latest.schema[id_column].dataType == wanted:
            return latest
        cast = _col(id_column).try_cast(wanted)
        if latest.filter(cast.isNull()).limit(1).count():
            raise DataError(
                f"id column {id_column!r} is {wanted.simpleString()} in the history (segment "
                f"{like}) but {latest.schema[id_column].dataType.simpleString()} in the batch, "
                "and not every id casts"
            )
        return latest.withColumn(id_column, cast)

    def merge_open(
        self,
        history: PartitionedTable,
        name: str,
        sources: list[str],
        id_column: str,
        notes: dict[str, str],
    ) -> WriteResult:
        return self._write(history, name, self._read(history, sources), notes)

    def compact(
        self,
        history: PartitionedTable,
        sources: list[str],
        id_column: str,
        closed: tuple[str, dict[str, str]],
        base: tuple[str, dict[str, str]],
    ) -> Compacted:
        frame = self._read(history, sources)
        rows_read = frame.count()
        resolved = _resolved(frame, id_column).cache()
        try:
            ended = resolved.filter(_col(VALID_TO).isNotNull())
            closed_written = None
            if ended.limit(1).count():
                closed_written = self._write(history, closed[0], ended, closed[1])
            current = resolved.filter(_col(VALID_TO).isNull())
            base_written = self._write(history, base[0], current, base[1])
        finally:
            resolved.unpersist()
        return Compacted(closed_written, base_written, rows_read)

    def rebuild(
        self,
        history: PartitionedTable,
        increments: PartitionedTable,
        batches: list[Batch],
        id_column: str,
        deleted: dict[str, pa.Array],
        operation: str,
        closed_share: float,
        base_notes: dict[str, str],
    ) -> Rebuilt:
        from lbh_platform.engines.spark_engine import spark_uri

        of_import = {i: day(b.valid_from) for b in batches for i in b.imports}
        part = increments.partition_column  # each file's import (or snapshot) day
        paths = [spark_uri(increments, increments.partition_dir(i)) for i in of_import]
        try:
            rows = (
                self.spark.read.option("mergeSchema", "true")
                .option("basePath", spark_uri(increments, increments.base))
                .parquet(*paths)
                .withColumn(part, F.col(part).cast("string"))
            )
        except Exception as exc:  # noqa: BLE001 - Spark's analysis errors have no common base
            raise DataError(f"{increments.display}: cannot read the increments: {exc}") from exc
        mapping = self.spark.createDataFrame([(i, d) for i, d in of_import.items()], [part, _BATCH])
        rows = rows.join(F.broadcast(mapping), on=part, how="inner").cache()
        try:
            return self._rebuild(history, rows, batches, id_column, deleted, operation,
                                 closed_share, base_notes)  # fmt: skip
        finally:
            rows.unpersist()

    def _rebuild(
        self,
        history: PartitionedTable,
        rows: DataFrame,
        batches: list[Batch],
        id_column: str,
        deleted: dict[str, pa.Array],
        operation: str,
        closed_share: float,
        base_notes: dict[str, str],
    ) -> Rebuilt:
        increment_rows = rows.count()
        without_id = rows.filter(_col(id_column).isNull()).count()
        latest = _latest(rows, id_column, [_BATCH, id_column])
        versions = _open(_without_history(latest), F.col(_BATCH), False).drop(_BATCH)
        gone = [(i, day(v)) for v, ids in deleted.items() for i in ids.to_pylist() if i is not None]
        if gone:
            id_type = versions.schema[id_column].dataType
            tombs = self.spark.createDataFrame(gone, [id_column, VALID_FROM])
            tombs = tombs.withColumn(id_column, _col(id_column).cast(id_type)).distinct()
            both = tombs.join(versions.select(id_column, VALID_FROM), [id_column, VALID_FROM])
            sample = [r[0] for r in both.limit(5).collect()]
            if sample:
                raise DataError(f"{history.display}: ids both changed and deleted, e.g. {sample}")
            tombs = tombs.withColumn(VALID_TO, F.lit(None).cast("date"))
            tombs = tombs.withColumn(IS_DELETED, F.lit(True))
            versions = versions.unionByName(tombs, allowMissingColumns=True)
        resolved = _resolved(versions, id_column).cache()
        try:
            total = resolved.count()
            if total == 0:
                raise DataError(f"{history.display}: no versions to rebuild from")
            current = resolved.filter(_col(VALID_TO).isNull()).count()
            counts = {
                r[0].strftime("%Y%m%d"): r[1]
                for r in resolved.filter(_col(VALID_TO).isNotNull())
                .groupBy(VALID_TO)
                .count()
                .collect()
            }
            target = max(int(closed_share * current), group_rows(len(resolved.columns)))
            sequence = int(base_notes[segments.SEQUENCE])
            written = []
            for after, until in segments.closed_cuts(counts, target):
                within = _col(VALID_TO) <= F.lit(day(until))
                if after != "00000000":
                    within = within & (_col(VALID_TO) > F.lit(day(after)))
                part = resolved.filter(within)
                notes = {
                    **segments.notes_for("closed", operation, sequence, id_column),
                    segments.CLOSED_AFTER: after,
                    segments.CLOSED_UNTIL: until,
                }
                name = segments.closed_name(after, until, operation)
                written.append(self._write(history, name, part, notes))
            base = segments.base_name(batches[-1].valid_from, operation)
            current_rows = resolved.filter(_col(VALID_TO).isNull())
            written.append(self._write(history, base, current_rows, base_notes))
        finally:
            resolved.unpersist()
        return Rebuilt(written, increment_rows, total, current, without_id)

    def as_of(
        self, history: PartitionedTable, segments: list[str], id_column: str, valid_on: str
    ) -> DataFrame:
        when = F.lit(day(valid_on))
        frame = self._read(history, segments)
        valid = frame.filter(
            (_col(VALID_FROM) <= when) & (_col(VALID_TO).isNull() | (_col(VALID_TO) > when))
        )
        newest = Window.partitionBy(_col(id_column)).orderBy(
            _col(VALID_FROM).desc(), _col(VALID_TO).asc_nulls_last()
        )
        return (
            valid.withColumn("_n", F.row_number().over(newest))
            .filter((F.col("_n") == 1) & ~(_col(IS_DELETED) & _col(VALID_TO).isNull()))
            .drop("_n", *STORED)
        )

    def versions(self, history: PartitionedTable, segments: list[str], id_column: str) -> DataFrame:
        resolved = _resolved(self._read(history, segments), id_column)
        return resolved.withColumn(IS_CURRENT, _col(VALID_TO).isNull())
