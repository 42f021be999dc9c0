"""The Arrow engine's snapshot apply, streamed: the previous snapshot is read and written one
batch at a time, so the apply costs about what reading and writing it cost and memory holds a
few batches, not the table.

Same rows, same order and same schema as :func:`lbh_platform.common.rows.apply_increment`
followed by a write (the previous snapshot's rows whose id is not replaced, in file order,
then the deduplicated increment; columns unified the same way): only the row groups of the
file differ. Reading the next batch overlaps writing the last one (both run outside the
interpreter lock).
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common import rows
from lbh_platform.common.errors import DataError
from lbh_platform.common.import_columns import SNAPSHOT_COLUMNS, snapshot_columns, yyyymmdd
from lbh_platform.engines.base import WrittenSnapshot
from lbh_platform.storage.partitioned_table import PartitionedTable

# Values per batch (rows x columns): about 100 MB decoded for typical columns; every batch
# becomes one row group of the new file. (Row groups of several batches cost more CPU to write
# at 750 columns, not less, and cutting rows out in the read-ahead thread did not pay on two
# cores: both measured, neither done.)
BATCH_VALUES = 8_000_000
MIN_BATCH_ROWS = 1024


def _batch_rows(columns: int) -> int:
    return max(MIN_BATCH_ROWS, BATCH_VALUES // max(1, columns))


# Above this many rows dropped from one batch, a filter (one copy of the batch) beats
# zero-copy slices: every slice becomes a chunk the Parquet writer handles on its own, and
# a thousand chunks a column made the long table's writes take twice as long (measured).
MAX_SLICED_DROPS = 16


def _without(batch: pa.RecordBatch, drop: np.ndarray) -> pa.Table:
    """``batch`` less the rows at the sorted positions ``drop``: as zero-copy slices when
    there are few (a filter would copy every value of every column to drop a few rows),
    else filtered."""
    if len(drop) > MAX_SLICED_DROPS:
        keep = np.ones(batch.num_rows, dtype=bool)
        keep[drop] = False
        return pa.Table.from_batches([batch.filter(pa.array(keep))])
    starts = np.concatenate(([0], drop + 1)).tolist()
    ends = np.concatenate((drop, [batch.num_rows])).tolist()
    pieces = [batch.slice(a, b - a) for a, b in zip(starts, ends, strict=True) if b > a]
    return pa.Table.from_batches(pieces, schema=batch.schema)


def _conform(table: pa.Table | pa.RecordBatch, schema: pa.Schema) -> list[pa.Array]:
    """``table``'s columns in ``schema``'s order and types; absent ones null (what
    ``concat_tables(promote_options="permissive")`` does to each input)."""
    n = table.num_rows
    out = []
    for field in schema:
        index = table.schema.get_field_index(field.name)
        if index < 0:
            out.append(pa.nulls(n, field.type))
            continue
        column = table.column(index)
        out.append(column if column.type == field.type else column.cast(field.type))
    return out


def _finish(table: pa.Table | pa.RecordBatch, schema: pa.Schema, extra: dict[str, str]) -> pa.Table:
    """Conformed rows plus the constant ``snapshot_*`` columns that live in the file."""
    if not table.schema.equals(schema, check_metadata=False):
        table = pa.Table.from_arrays(_conform(table, schema), schema=schema)
    elif isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    for name, value in extra.items():
        table = table.append_column(name, pa.repeat(pa.scalar(value, pa.string()), len(table)))
    return table


def _prefetched(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches``, the next one read in a thread while the caller works on the last."""
    with ThreadPoolExecutor(1, thread_name_prefix="snapshot-read") as pool:
        pending = pool.submit(next, batches, None)
        while True:
            batch = pending.result()
            if batch is None:
                return
            pending = pool.submit(next, batches, None)
            yield batch


def write_snapshot(
    snapshots: PartitionedTable,
    base_value: str,
    increments: pa.Table,
    id_column: str,
    day: date,
    notes: dict[str, str] | None = None,
) -> WrittenSnapshot:
    """Apply ``increments`` to partition ``base_value`` and publish partition ``day`` (with
    ``notes`` in its footer)."""
    latest, without_id = rows.dedupe_latest(increments, id_column)
    latest = latest.drop_columns([c for c in SNAPSHOT_COLUMNS if c in latest.column_names])
    constants = {k: v[0].as_py() for k, v in snapshot_columns(1, day).items()}
    value = constants.pop(snapshots.partition_column, None) or yyyymmdd(day)
    with snapshots.open_parquet(base_value) as parquet:
        base_schema = parquet.schema_arrow.remove_metadata()
        base_rows = parquet.metadata.num_rows
        names = [n for n in base_schema.names if n not in SNAPSHOT_COLUMNS]
        kept_schema = pa.schema([base_schema.field(n) for n in names])
        ids = None
        if base_rows and latest.num_rows:
            if id_column not in names:
                raise DataError(f"previous snapshot has no id column {id_column!r}")
            ids = latest[id_column].combine_chunks()
            base_type = kept_schema.field(id_column).type
            if ids.type != base_type:
                try:
                    ids = ids.cast(base_type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise DataError(
                        f"id column {id_column!r} is {base_type} in the snapshot but "
                        f"{latest[id_column].type} in the increment"
                    ) from exc
        parts = [kept_schema]
        if latest.num_rows or latest.num_columns:
            parts.append(latest.schema.remove_metadata())
        try:
            schema = pa.unify_schemas(parts, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(f"snapshot: column types differ between the inputs: {exc}") from exc
        out = pa.schema([*schema, *(pa.field(c, pa.string()) for c in constants)])
        replaced = 0
        with snapshots.stream(value, out, notes) as sink:
            batches = parquet.iter_batches(
                batch_size=_batch_rows(len(names)), columns=names, use_threads=True
            )
            # The last piece waits for the increment: both become one row group, not a row
            # group of a few hundred rows (every row group costs a column chunk per column).
            held: pa.Table | None = None
            for batch in _prefetched(batches):
                piece: pa.Table | pa.RecordBatch = batch
                if ids is not None:
                    hit = pc.is_in(batch.column(id_column), value_set=ids)
                    drop = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
                    if len(drop):
                        piece = _without(batch, drop)
                        replaced += len(drop)
                if held is not None:
                    sink.write(held)
                held = _finish(piece, schema, constants)
            tail = [] if held is None else [held]
            if latest.num_rows:
                tail.append(_finish(latest, schema, constants))
            if tail:
                sink.write(pa.concat_tables(tail))
    assert sink.result is not None
    return WrittenSnapshot(
        sink.result,
        base_rows=base_rows,
        increment_rows=increments.num_rows,
        replaced_rows=replaced,
        inserted_rows=latest.num_rows - replaced,
        rows_without_id=without_id,
    )
