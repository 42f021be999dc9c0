"""Alloy transforms on Arrow tables: CSV to strings, snapshots by upsert or full export, renames.

Pure functions with no I/O and no Dagster, so they are unit-tested directly. Snapshot merging
reuses the Tascomi helpers (`unify`, `dedupe_latest`) so both sources resolve conflicts alike.
"""

import csv
import io
import re
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common.errors import DataError
from lbh_platform.common.rows import dedupe_latest, unify

__all__ = [
    "NULL_TEXTS",
    "apply_renames",
    "clean_column_name",
    "csv_to_table",
    "full_snapshot",
    "upsert_snapshot",
]

# What the original's pandas round trip left behind for missing values, plus empty cells.
NULL_TEXTS = frozenset({"", "nan", "NaT"})
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]+")


def clean_column_name(name: str) -> str:
    """Runs of non-alphanumerics become ``_``, trailing ``_`` goes, lower-case (as the original)."""
    return _NON_ALNUM.sub("_", name).rstrip("_").lower()


def _clean_header(header: list[str]) -> list[str]:
    """Cleaned names; blanks become ``column<i>`` and repeats get their column index appended
    (``description3``, ``description9``), which is what the existing rename files expect."""
    cleaned = [clean_column_name(h) or f"column{i}" for i, h in enumerate(header)]
    counts: dict[str, int] = {}
    for name in cleaned:
        counts[name] = counts.get(name, 0) + 1
    names = [f"{n}{i}" if counts[n] > 1 else n for i, n in enumerate(cleaned)]
    if len(set(names)) != len(names):
        raise DataError(f"CSV header gives duplicate column names after cleaning: {names}")
    return names


def csv_to_table(csv_text: str) -> pa.Table:
    """Every column a nullable string with a cleaned name; ``nan``/``NaT``/empty are null and
    rows with no value at all are dropped (Alloy pads exports with blank lines)."""
    reader = csv.reader(io.StringIO(csv_text.lstrip("\ufeff"), newline=""))
    header = next(reader, None)
    if header is None:
        return pa.table({})
    names = _clean_header(header)
    width = len(names)
    columns: list[list[str | None]] = [[] for _ in names]
    for line_number, row in enumerate(reader, start=2):
        if len(row) > width:
            raise DataError(
                f"CSV row {line_number} has {len(row)} fields but the header has {width}"
            )
        values = [None if v in NULL_TEXTS else v for v in row]
        values.extend([None] * (width - len(values)))
        if all(v is None for v in values):
            continue
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return pa.table({n: pa.array(c, pa.string()) for n, c in zip(names, columns, strict=True)})


def _ids(table: pa.Table, id_column: str, what: str) -> pa.Array:
    if id_column not in table.column_names:
        raise DataError(f"{what} has no id column {id_column!r}; columns: {table.column_names}")
    return table[id_column].combine_chunks()


def upsert_snapshot(
    base: pa.Table | None,
    day_rows: pa.Table,
    id_column: str = "item_id",
    *,
    one_row_per_id: bool = True,
) -> tuple[pa.Table, dict[str, int]]:
    """New snapshot = base rows whose id is not in ``day_rows``, plus ``day_rows``.

    Latest import wins: an anti-join then a union, as the original. Within ``day_rows`` one
    row per id is kept (the newest ``import_date`` if present). A joined-design table has one
    row per linked item, so upsert it on ``primary_item`` with ``one_row_per_id=False``: an
    exported root item's rows then replace all its previous ones. Rows without an id cannot be
    applied and are counted, not kept. Counts: ``base_rows``, ``day_rows``, ``replaced`` (base
    rows superseded), ``inserted`` (rows with a new id), ``rows_without_id``, ``rows``.
    """
    if not day_rows.num_rows:
        latest, without_id = day_rows, 0
    elif one_row_per_id:
        latest, without_id = dedupe_latest(day_rows, id_column)
    else:
        has_id = pc.is_valid(_ids(day_rows, id_column, "export rows"))
        latest = day_rows.filter(has_id)
        without_id = day_rows.num_rows - latest.num_rows
    base_rows = 0 if base is None else base.num_rows
    replaced = 0
    inserted = latest.num_rows
    kept = base
    if base is not None and base.num_rows and latest.num_rows:
        base_ids = _ids(base, id_column, "previous snapshot")
        new_ids = _ids(latest, id_column, "export rows")
        if new_ids.type != base_ids.type:
            new_ids = new_ids.cast(base_ids.type)
        replaced_mask = pc.fill_null(pc.is_in(base_ids, value_set=new_ids), False)
        replaced = pc.sum(replaced_mask).as_py() or 0
        kept = base.filter(pc.invert(replaced_mask))
        inserted = pc.sum(pc.invert(pc.is_in(new_ids, value_set=base_ids))).as_py() or 0
    parts = [t for t in (kept, latest) if t is not None and (t.num_rows or t.num_columns)]
    merged = unify(parts, "alloy snapshot") if parts else latest
    counts = {
        "base_rows": base_rows,
        "day_rows": day_rows.num_rows,
        "replaced": replaced,
        "inserted": inserted,
        "rows_without_id": without_id,
        "rows": merged.num_rows,
    }
    return merged, counts


def full_snapshot(
    base: pa.Table | None, export_rows: pa.Table, id_column: str = "item_id"
) -> tuple[pa.Table, list[str], dict[str, int]]:
    """A full export *is* the snapshot; ids in ``base`` but not in the export were deleted.

    Returns the snapshot (one row per id), the deleted ids (sorted) and counts:
    ``base_rows``, ``export_rows``, ``inserted``, ``deleted``, ``rows_without_id``, ``rows``.
    """
    latest, without_id = (
        dedupe_latest(export_rows, id_column) if export_rows.num_rows else (export_rows, 0)
    )
    new_ids: set[str] = set()
    if latest.num_rows:
        new_ids = {str(v) for v in _ids(latest, id_column, "export rows").to_pylist()}
    old_ids: set[str] = set()
    if base is not None and base.num_rows:
        old_ids = {
            str(v) for v in _ids(base, id_column, "previous snapshot").to_pylist() if v is not None
        }
    deletions = sorted(old_ids - new_ids)
    counts = {
        "base_rows": 0 if base is None else base.num_rows,
        "export_rows": export_rows.num_rows,
        "inserted": len(new_ids - old_ids),
        "deleted": len(deletions),
        "rows_without_id": without_id,
        "rows": latest.num_rows,
    }
    return latest, deletions, counts


def apply_renames(table: pa.Table, mapping: Mapping[str, str] | None) -> pa.Table:
    """Rename columns by ``{"old": "new"}``, all at once (so swaps work).

    Keys naming absent columns and columns without a key are left alone, as the original's
    mapping files expect; a rename that would produce two columns of one name is an error.
    """
    if not mapping:
        return table
    names = [mapping.get(name, name) for name in table.column_names]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise DataError(
            f"renaming columns would give duplicate column(s) {duplicates}; fix the rename mapping"
        )
    return table.rename_columns(names)
