"""The Arrow engine's history operations (:class:`lbh_platform.history.engine.HistoryOps`).

Segments are read and written a row group at a time where they can be large (merges,
compactions, rebuilds), so memory holds a few row groups, not the history. The row rules are
:mod:`lbh_platform.history.exact`, applied to narrow columns first; wide rows are then taken
once, by position.
"""

import contextlib
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common import rows
from lbh_platform.common.errors import DataError
from lbh_platform.history import arrow_as_of, arrow_rebuild
from lbh_platform.history.arrow_files import (
    BAND_DAYS,
    Groups,
    conform,
    group_rows,
    history_schema,
    schema_of,
)
from lbh_platform.history.batches import Batch
from lbh_platform.history.columns import (
    DATE,
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
from lbh_platform.history.exact import resolve
from lbh_platform.storage.partitioned_table import PartitionedTable, WriteResult

NARROW = (VALID_FROM, VALID_TO, IS_DELETED)


def _with_history(table: pa.Table, valid_from: date, deleted: bool) -> pa.Table:
    n = table.num_rows
    table = table.drop_columns([c for c in (*DROPPED, *STORED, SEGMENT) if c in table.column_names])
    return (
        table.append_column(VALID_FROM, pa.array([valid_from] * n, DATE))
        .append_column(VALID_TO, pa.nulls(n, DATE))
        .append_column(IS_DELETED, pa.array(np.full(n, deleted)))
    )


def _write(history: PartitionedTable, name: str, table: pa.Table, notes: dict[str, str]):
    schema = history_schema([table.schema], history.location(name))
    with history.stream(name, schema, notes) as sink:
        groups = Groups(sink, group_rows(len(schema)))
        groups.add(conform(table, schema))
        groups.close()
    assert sink.result is not None
    return sink.result


def _schemas(history: PartitionedTable, names: list[str]) -> list[pa.Schema]:
    out = []
    for name in names:
        with history.open_parquet(name) as parquet:
            out.append(parquet.schema_arrow)
    return out


def _narrow(history: PartitionedTable, name: str, id_column: str) -> pa.Table:
    with history.open_parquet(name) as parquet:
        return parquet.read(columns=[id_column, *NARROW])


def _ids_as(table: pa.Table, id_column: str, schema: pa.Schema, segment: str) -> pa.Table:
    """``table`` with its ids cast to the type they have in ``schema`` (of ``segment``)."""
    if id_column not in schema.names:
        return table
    wanted = schema.field(id_column).type
    ids = table[id_column]
    if ids.type == wanted:
        return table
    try:
        cast = ids.cast(wanted)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(
            f"id column {id_column!r} is {wanted} in the history (segment {segment}) but "
            f"{ids.type} in the batch, and not every id casts: {exc}"
        ) from exc
    return _set(table, id_column, cast)


def _set(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


class ArrowHistory:
    """History operations on pyarrow tables."""

    def write_day(
        self,
        history: PartitionedTable,
        name: str,
        increments: pa.Table,
        id_column: str,
        valid_from: str,
        deleted: pa.Array | None,
        notes: dict[str, str],
        like: str | None = None,
    ) -> DayWritten:
        latest, without_id = rows.dedupe_latest(increments, id_column)
        if like is not None and latest.num_rows:
            latest = _ids_as(latest, id_column, schema_of(history, like), like)
        when = day(valid_from)
        versions = _with_history(latest, when, False) if latest.num_columns else None
        tombstones = None
        if deleted is not None and len(deleted):
            ids = pc.unique(deleted.drop_null())
            if versions is not None and id_column in latest.column_names:
                ids = ids.cast(latest.schema.field(id_column).type)
                both = pc.is_in(ids, value_set=latest[id_column].combine_chunks())
                if pc.any(both).as_py():
                    raise DataError(
                        f"{history.location(name)}: ids both changed and deleted in one batch, "
                        f"e.g. {ids.filter(both)[:5].to_pylist()}"
                    )
            tombstones = _with_history(pa.table({id_column: ids}), when, True)
        parts = [t for t in (versions, tombstones) if t is not None]
        if not parts:
            raise DataError(f"{history.location(name)}: the batch has no rows and no columns")
        frame = rows.unify(parts, history.location(name))
        written = _write(history, name, frame, notes)
        return DayWritten(
            written,
            increments.num_rows,
            latest.num_rows,
            0 if tombstones is None else tombstones.num_rows,
            without_id,
        )

    def merge_open(
        self,
        history: PartitionedTable,
        name: str,
        sources: list[str],
        id_column: str,
        notes: dict[str, str],
    ) -> WriteResult:
        schema = history_schema(_schemas(history, sources), history.location(name))
        with history.stream(name, schema, notes) as sink:
            groups = Groups(sink, group_rows(len(schema)))
            for source in sources:
                with history.open_parquet(source) as parquet:
                    for batch in parquet.iter_batches(batch_size=groups.rows):
                        groups.add(conform(pa.Table.from_batches([batch]), schema))
            groups.close()
        assert sink.result is not None
        return sink.result

    def compact(
        self,
        history: PartitionedTable,
        sources: list[str],
        id_column: str,
        closed: tuple[str, dict[str, str]],
        base: tuple[str, dict[str, str]],
    ) -> Compacted:
        narrow = rows.unify([_narrow(history, s, id_column) for s in sources], history.display)
        resolved = resolve(
            narrow[id_column], narrow[VALID_FROM], narrow[VALID_TO], narrow[IS_DELETED]
        )
        ended = resolved.keep & pc.is_valid(resolved.valid_to).to_numpy(zero_copy_only=False)
        current = resolved.keep & ~ended
        schema = history_schema(_schemas(history, sources), history.display)
        rows_per_group = group_rows(len(schema))
        with contextlib.ExitStack() as stack:
            base_sink = stack.enter_context(history.stream(base[0], schema, base[1]))
            outputs = {"base": Groups(base_sink, rows_per_group, BAND_DAYS)}
            closed_sink = None
            if ended.any():
                closed_sink = stack.enter_context(history.stream(closed[0], schema, closed[1]))
                outputs["closed"] = Groups(closed_sink, rows_per_group, BAND_DAYS)
            offset = 0
            for source in sources:
                with history.open_parquet(source) as parquet:
                    for batch in parquet.iter_batches(batch_size=rows_per_group):
                        n = batch.num_rows
                        piece = conform(pa.Table.from_batches([batch]), schema)
                        span = slice(offset, offset + n)
                        mine = current[span]
                        if mine.any():
                            outputs["base"].add(piece.filter(pa.array(mine)))
                        gone = ended[span]
                        if gone.any():
                            # by valid_from, then valid_to: "as of D" then keeps runs
                            at = np.flatnonzero(gone)
                            ends = resolved.valid_to[span].take(pa.array(at))
                            order = pc.sort_indices(
                                pa.table({"f": piece[VALID_FROM].take(pa.array(at)), "t": ends}),
                                sort_keys=[("f", "ascending"), ("t", "ascending")],
                            ).to_numpy()
                            at, ends = at[order], ends.take(pa.array(order))
                            moved = _set(piece.take(pa.array(at)), VALID_TO, ends)
                            flags = pa.array(resolved.is_deleted[span][at])
                            outputs["closed"].add(_set(moved, IS_DELETED, flags))
                        offset += n
            for groups in outputs.values():
                groups.close()
        assert base_sink.result is not None
        return Compacted(
            closed_sink.result if closed_sink is not None else None, base_sink.result, offset
        )

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
        return arrow_rebuild.rebuild(
            history, increments, batches, id_column, deleted, operation, closed_share, base_notes
        )

    def as_of(
        self, history: PartitionedTable, segments: list[str], id_column: str, valid_on: str
    ) -> pa.Table:
        return arrow_as_of.as_of(history, segments, id_column, valid_on)

    def versions(self, history: PartitionedTable, segments: list[str], id_column: str) -> pa.Table:
        tables = []
        for name in segments:
            with history.open_parquet(name) as parquet:
                tables.append(parquet.read())
        if not tables:
            return pa.table({})
        table = rows.unify(tables, history.display)
        resolved = resolve(table[id_column], table[VALID_FROM], table[VALID_TO], table[IS_DELETED])
        table = _set(table, VALID_TO, resolved.valid_to)
        table = _set(table, IS_DELETED, pa.array(resolved.is_deleted))
        table = table.append_column(IS_CURRENT, pc.is_null(resolved.valid_to))
        return table.filter(pa.array(resolved.keep))
