"""Alloy transforms on Arrow tables: CSV to strings, snapshots by upsert or full export, renames.

Pure functions with no I/O and no Dagster, so they are unit-tested directly. Snapshot merging
shares `unify` with the other sources; an item repeated in one export keeps its newest edit.
"""

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common.errors import DataError
from lbh_platform.common.rows import unify

__all__ = [
    "LAST_EDIT_COLUMNS",
    "NULL_TEXTS",
    "ParsedCsv",
    "apply_renames",
    "clean_column_name",
    "column_changes",
    "csv_to_table",
    "full_snapshot",
    "keep_columns",
    "last_edit_column",
    "newest_edit_per_id",
    "read_csv",
    "relink_snapshot",
    "upsert_snapshot",
]

# What the original's pandas round trip left behind for missing values, plus empty cells.
NULL_TEXTS = frozenset({"", "nan", "NaT"})
# An item's last edit as exports name it, cleaned: "Last Edit Date" (Name headers) and
# "lastEditDate" (Code headers, the AQS item property).
LAST_EDIT_COLUMNS = ("last_edit_date", "lasteditdate")
_EDIT_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")
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


@dataclass(frozen=True)
class ParsedCsv:
    """A CSV as a table, with what was read: ``records`` (CSV records after the header, a
    quoted newline inside one) and the all-null records dropped (blank lines are neither)."""

    table: pa.Table
    records: int
    all_null_rows: int


def read_csv(source: str | Iterable[str]) -> ParsedCsv:
    """Every column a nullable string with a cleaned name; ``nan``/``NaT``/empty are null and
    rows with no value at all are dropped (Alloy pads exports with blank lines).

    ``source`` is the CSV text or its lines (a stream: nothing but the table is held).
    """
    lines = io.StringIO(source.lstrip("\ufeff"), newline="") if isinstance(source, str) else source
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return ParsedCsv(pa.table({}), 0, 0)
    if header:
        header[0] = header[0].lstrip("\ufeff")
    names = _clean_header(header)
    width = len(names)
    columns: list[list[str | None]] = [[] for _ in names]
    records = all_null = 0
    for row in reader:
        if not row:  # a blank line
            continue
        records += 1
        if len(row) > width:
            raise DataError(
                f"CSV row {records + 1} has {len(row)} fields but the header has {width} "
                f"(line {reader.line_num})"
            )
        values = [None if v in NULL_TEXTS else v for v in row]
        values.extend([None] * (width - len(values)))
        if all(v is None for v in values):
            all_null += 1
            continue
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    table = pa.table({n: pa.array(c, pa.string()) for n, c in zip(names, columns, strict=True)})
    return ParsedCsv(table, records, all_null)


def csv_to_table(source: str | Iterable[str]) -> pa.Table:
    """The table of :func:`read_csv`."""
    return read_csv(source).table


def _ids(table: pa.Table, id_column: str, what: str) -> pa.Array:
    if id_column not in table.column_names:
        raise DataError(f"{what} has no id column {id_column!r}; columns: {table.column_names}")
    return table[id_column].combine_chunks()


def last_edit_column(
    columns: Sequence[str], renames: Mapping[str, str] | None = None
) -> str | None:
    """The column holding an item's last edit, after ``renames``; None if the export has none."""
    renames = renames or {}
    present = set(columns)
    return next((n for c in LAST_EDIT_COLUMNS if (n := renames.get(c, c)) in present), None)


def _edit_moment(text: str | None) -> float | None:
    """A last-edit text as seconds since the epoch (naive is UTC); None if it is no date."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        for layout in _EDIT_FORMATS:
            try:
                moment = datetime.strptime(text.strip(), layout)
                break
            except ValueError:
                continue
        else:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def newest_edit_per_id(
    rows: pa.Table, id_column: str, edit_column: str | None = None
) -> tuple[pa.Table, int, int]:
    """One row per id, in the rows' order: the newest ``import_date``, then the newest edit by
    ``edit_column`` (a row without a readable date is older), then the later row.

    Returns the rows kept, how many had no id (they cannot be applied) and how many were
    dropped because their id appeared again *in the same export* (an export's own repeats,
    not an item exported on two days).
    """
    if rows.num_rows == 0:
        return rows, 0, 0
    ids = _ids(rows, id_column, "export rows")
    without_id = ids.null_count
    if without_id:
        rows = rows.filter(pc.is_valid(ids))
        ids = rows[id_column].combine_chunks()
    if rows.num_rows == 0 or pc.count_distinct(ids).as_py() == rows.num_rows:
        return rows, without_id, 0
    counts = pa.table({"id": ids}).group_by("id").aggregate([("id", "count")])
    repeated = counts.filter(pc.greater(counts["id_count"], 1))["id"]
    positions = np.flatnonzero(pc.is_in(ids, value_set=repeated).to_numpy(zero_copy_only=False))
    imports = (
        rows["import_date"].take(positions)
        if "import_date" in rows.column_names
        else pa.nulls(len(positions), pa.string())
    )
    edits = pa.nulls(len(positions), pa.float64())
    if edit_column is not None and edit_column in rows.column_names:
        texts = rows[edit_column].take(positions).to_pylist()
        edits = pa.array([_edit_moment(t) for t in texts], pa.float64())
    keys = pa.table(
        {"id": ids.take(positions), "import": imports, "edit": edits, "position": positions}
    )
    order = pc.sort_indices(
        keys,
        sort_keys=[
            ("id", "ascending", "at_end"),
            ("import", "descending", "at_end"),
            ("edit", "descending", "at_end"),
            ("position", "descending", "at_end"),
        ],
    )
    ranked = keys.take(order)
    sorted_ids = ranked["id"].combine_chunks()
    first = np.ones(len(sorted_ids), dtype=bool)
    first[1:] = pc.not_equal(
        sorted_ids.slice(1), sorted_ids.slice(0, len(sorted_ids) - 1)
    ).to_numpy(zero_copy_only=False)
    winners = ranked["position"].to_numpy()[first]
    keep = np.ones(rows.num_rows, dtype=bool)
    keep[positions] = False
    keep[winners] = True
    same_export = len(positions) - (
        keys.select(["id", "import"]).group_by(["id", "import"]).aggregate([]).num_rows
    )
    return rows.filter(pa.array(keep)), without_id, same_export


def upsert_snapshot(
    base: pa.Table | None,
    day_rows: pa.Table,
    id_column: str = "item_id",
    *,
    one_row_per_id: bool = True,
    edit_column: str | None = None,
    exported_ids: pa.Array | pa.ChunkedArray | None = None,
) -> tuple[pa.Table, dict[str, int]]:
    """New snapshot = base rows whose id is not in ``day_rows`` (nor in ``exported_ids``),
    plus ``day_rows``.

    Latest import wins: an anti-join then a union, as the original. Within ``day_rows`` one
    row per id is kept (:func:`newest_edit_per_id`; ``edit_column`` defaults to the export's
    last-edit column). A joined-design table has one row per linked item, so upsert it on
    ``primary_item`` with ``one_row_per_id=False`` and the root items exported that day as
    ``exported_ids``: each one's rows are then exactly that day's (none if it has none). Rows
    without an id cannot be applied and are counted, not kept. Counts: ``base_rows``,
    ``day_rows``, ``replaced`` (base rows superseded), ``inserted`` (rows with a new id),
    ``rows_without_id``, ``duplicate_ids`` (an id repeated in one export), ``rows``.
    """
    duplicates = 0
    if not day_rows.num_rows:
        latest, without_id = day_rows, 0
    elif one_row_per_id:
        if edit_column is None:
            edit_column = last_edit_column(day_rows.column_names)
        latest, without_id, duplicates = newest_edit_per_id(day_rows, id_column, edit_column)
    else:
        has_id = pc.is_valid(_ids(day_rows, id_column, "export rows"))
        latest = day_rows.filter(has_id)
        without_id = day_rows.num_rows - latest.num_rows
    base_rows = 0 if base is None else base.num_rows
    replaced = 0
    inserted = latest.num_rows
    kept = base
    new_ids = _ids(latest, id_column, "export rows") if latest.num_rows else None
    gone = [a for a in (new_ids, exported_ids) if a is not None and len(a)]
    if base is not None and base.num_rows and gone:
        base_ids = _ids(base, id_column, "previous snapshot")
        value_set = pa.chunked_array([a.cast(base_ids.type) for a in gone]).combine_chunks()
        replaced_mask = pc.fill_null(pc.is_in(base_ids, value_set=value_set), False)
        replaced = pc.sum(replaced_mask).as_py() or 0
        kept = base.filter(pc.invert(replaced_mask))
        if new_ids is not None:
            inserted = pc.sum(pc.invert(pc.is_in(new_ids, value_set=base_ids))).as_py() or 0
    parts = [t for t in (kept, latest) if t is not None and (t.num_rows or t.num_columns)]
    merged = unify(parts, "alloy snapshot") if parts else latest
    counts = {
        "base_rows": base_rows,
        "day_rows": day_rows.num_rows,
        "replaced": replaced,
        "inserted": inserted,
        "rows_without_id": without_id,
        "duplicate_ids": duplicates,
        "rows": merged.num_rows,
    }
    return merged, counts


def relink_snapshot(
    base: pa.Table | None,
    exports: Sequence[tuple[pa.Array | pa.ChunkedArray, pa.Table]],
    id_column: str = "primary_item",
) -> tuple[pa.Table, dict[str, int]]:
    """A joined-design snapshot brought up to date by each export in turn: ``(root item ids
    exported that day, that day's link rows)``. Every root item exported keeps exactly that
    day's links, so an item whose links were all removed upstream keeps none.

    Counts as :func:`upsert_snapshot`, summed over the exports, plus
    ``root_items_exported`` (distinct ids over all of them).
    """
    merged = base
    totals = {"base_rows": 0 if base is None else base.num_rows, "day_rows": 0, "replaced": 0}
    totals.update(inserted=0, rows_without_id=0)
    exported: list[pa.Array] = []
    for root_ids, rows in exports:
        root_ids = root_ids.combine_chunks() if isinstance(root_ids, pa.ChunkedArray) else root_ids
        exported.append(root_ids.cast(pa.string()))
        merged, counts = upsert_snapshot(
            merged, rows, id_column, one_row_per_id=False, exported_ids=root_ids
        )
        for name in ("day_rows", "replaced", "inserted", "rows_without_id"):
            totals[name] += counts[name]
    distinct = pc.unique(pa.concat_arrays(exported).drop_null()) if exported else []
    totals["root_items_exported"] = len(distinct)
    if merged is None:
        merged = pa.table({})
    totals["rows"] = merged.num_rows
    return merged, totals


def full_snapshot(
    base: pa.Table | None,
    export_rows: pa.Table,
    id_column: str = "item_id",
    edit_column: str | None = None,
) -> tuple[pa.Table, list[str], dict[str, int]]:
    """A full export *is* the snapshot; ids in ``base`` but not in the export were deleted.

    Returns the snapshot (one row per id, see :func:`newest_edit_per_id`), the deleted ids
    (sorted) and counts: ``base_rows``, ``export_rows``, ``inserted``, ``deleted``,
    ``rows_without_id``, ``duplicate_ids``, ``rows``.
    """
    if edit_column is None:
        edit_column = last_edit_column(export_rows.column_names)
    latest, without_id, duplicates = newest_edit_per_id(export_rows, id_column, edit_column)
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
        "duplicate_ids": duplicates,
        "rows": latest.num_rows,
    }
    return latest, deletions, counts


def column_changes(
    known: Sequence[str] | None, exports: Sequence[pa.Table]
) -> tuple[list[str], list[str]]:
    """Columns the exports added to ``known`` (the previous snapshot's), and known columns
    some export lacked, each sorted; both empty when nothing is known yet."""
    if known is None:
        return [], []
    seen = set(known)
    added: set[str] = set()
    missing: set[str] = set()
    for table in exports:
        names = set(table.column_names)
        added |= names - seen
        missing |= seen - names
        seen |= names
    return sorted(added), sorted(missing)


def keep_columns(table: pa.Table, previous: pa.Table | None) -> pa.Table:
    """``table`` with every column of ``previous`` it lacks appended as nulls: a column an
    export stopped sending stays in the snapshot."""
    if previous is None:
        return table
    for field in previous.schema:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table


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
