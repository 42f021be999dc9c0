"""Row logic every source and both engines share: union of differing tables, latest version
per id, and the snapshot upsert (anti-join on the id, then a union).

Pure Arrow, no Dagster and no I/O. The Spark engine implements the same rules on DataFrames.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common.errors import DataError
from lbh_platform.common.import_columns import SNAPSHOT_COLUMNS, snapshot_columns

LAST_UPDATED = "last_updated"


def unify(tables: Sequence[pa.Table], what: str) -> pa.Table:
    """Concatenate tables whose columns may differ (new or missing columns become null)."""
    tables = [t for t in tables if t is not None]
    if not tables:
        return pa.table({})
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"{what}: column types differ between the inputs: {exc}") from exc


def dedupe_latest(increments: pa.Table, id_column: str) -> tuple[pa.Table, int]:
    """Latest ``last_updated`` per id (null is oldest); ties go to the newest import_date, then
    the later page.

    Returns the deduplicated rows and how many rows had no id (they cannot be applied).
    """
    if increments.num_rows == 0:
        return increments, 0
    if id_column not in increments.column_names:
        raise DataError(f"increments have no id column {id_column!r}")
    with_id = increments
    if increments[id_column].null_count:  # a filter copies every column
        with_id = increments.filter(pc.is_valid(increments[id_column]))
    without_id = increments.num_rows - with_id.num_rows
    if with_id.num_rows == 0:
        return with_id, without_id
    keys = [(id_column, "ascending", "at_end")]
    if LAST_UPDATED in with_id.column_names:
        keys.append((LAST_UPDATED, "descending", "at_end"))
    if "import_date" in with_id.column_names:
        keys.append(("import_date", "descending", "at_end"))
    if "page_number" in with_id.column_names:  # a full tie: the later page is the later read
        keys.append(("page_number", "descending", "at_end"))
    order = pc.sort_indices(with_id, sort_keys=keys)
    # The first row of each id in sorted order, found on the id column alone, so the wide
    # table is taken once (the kept rows), not sorted whole and then filtered.
    ids = pc.take(with_id[id_column], order).combine_chunks()
    if len(ids) > 1:
        changed = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))
        first = pa.concat_arrays([pa.array([True]), changed.cast(pa.bool_())])
    else:
        first = pa.array([True])
    return with_id.take(order.filter(first)), without_id


@dataclass(frozen=True)
class SnapshotResult:
    table: pa.Table
    base_rows: int
    increment_rows: int
    replaced_rows: int
    inserted_rows: int
    rows_without_id: int


def apply_increment(
    base: pa.Table | None, increments: pa.Table, id_column: str, snapshot_day: date
) -> SnapshotResult:
    """New snapshot = base rows whose id is not in the increment, plus the increment.

    An anti-join then a union, as the original; ``snapshot_*`` columns are set for the day.
    """
    latest, without_id = dedupe_latest(increments, id_column)
    base_rows = 0 if base is None else base.num_rows
    if base is not None:
        base = base.drop_columns([c for c in SNAPSHOT_COLUMNS if c in base.column_names])
    if base is not None and base.num_rows and latest.num_rows:
        if id_column not in base.column_names:
            raise DataError(f"previous snapshot has no id column {id_column!r}")
        ids = latest[id_column].combine_chunks()
        base_ids = base[id_column]
        if base_ids.type != ids.type:
            try:
                ids = ids.cast(base_ids.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataError(
                    f"id column {id_column!r} is {base_ids.type} in the snapshot but "
                    f"{latest[id_column].type} in the increment"
                ) from exc
        replaced_mask = pc.is_in(base_ids, value_set=ids)
        replaced = pc.sum(replaced_mask).as_py() or 0
        kept = base.filter(pc.invert(replaced_mask))
    else:
        replaced = 0
        kept = base
    latest = latest.drop_columns([c for c in SNAPSHOT_COLUMNS if c in latest.column_names])
    parts = [t for t in (kept, latest) if t is not None and (t.num_rows or t.num_columns)]
    merged = unify(parts, "snapshot") if parts else latest
    for name, values in snapshot_columns(merged.num_rows, snapshot_day).items():
        merged = merged.append_column(name, values)
    return SnapshotResult(
        table=merged,
        base_rows=base_rows,
        increment_rows=increments.num_rows,
        replaced_rows=replaced,
        inserted_rows=latest.num_rows - replaced,
        rows_without_id=without_id,
    )
