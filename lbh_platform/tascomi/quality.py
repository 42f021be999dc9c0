"""Data-quality rules that replace the original's PyDeequ checks (no Dagster here).

Column and type validation uses pandera schemas generated from the column-type catalogue;
the simple counting rules run on Arrow directly.
"""

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd
import pandera.pandas as pdr
import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common.quality import RuleOutcome, duplicate_count
from lbh_platform.common.recast import arrow_type
from lbh_platform.tascomi.locations import tascomi_table

if TYPE_CHECKING:
    from lbh_platform.storage.lake import Lake
    from lbh_platform.tascomi.tables import TascomiTable

CAST_FAILURES_KEY = "lbh.cast_failures"  # footer note of an increment: failures per column

COMPLETENESS_THRESHOLD = 0.99


def uniqueness(table: pa.Table, columns: Sequence[str]) -> RuleOutcome:
    missing = [c for c in columns if c not in table.column_names]
    if missing and table.num_rows:
        return RuleOutcome(False, f"column(s) {missing} not found", {"rows": table.num_rows})
    if missing:
        return RuleOutcome(True, "no rows", {"rows": 0})
    duplicates = duplicate_count(table, columns)
    sample: list[object] = []
    if duplicates:
        counts = (
            table.select(list(columns))
            .group_by(list(columns))
            .aggregate([(columns[0], "count", pc.CountOptions(mode="all"))])
        )
        repeated = counts.filter(pc.greater(counts[f"{columns[0]}_count"], 1))
        sample = repeated.slice(0, 5).select(list(columns)).to_pylist()
    label = ", ".join(columns)
    return RuleOutcome(
        duplicates == 0,
        f"({label}) unique" if not duplicates else f"{duplicates} duplicate ({label}) rows",
        {
            "rows": table.num_rows,
            "duplicate_rows": duplicates,
            "duplicate_examples": [str(s) for s in sample],
        },
    )


def completeness(
    table: pa.Table, column: str, threshold: float = COMPLETENESS_THRESHOLD
) -> RuleOutcome:
    if table.num_rows == 0:
        return RuleOutcome(True, "no rows", {"rows": 0, "completeness": 1.0})
    if column not in table.column_names:
        return RuleOutcome(
            False, f"column {column!r} not found", {"rows": table.num_rows, "completeness": 0.0}
        )
    present = table.num_rows - table[column].null_count
    ratio = present / table.num_rows
    return RuleOutcome(
        ratio >= threshold,
        f"{column} {ratio:.2%} complete (threshold {threshold:.0%})",
        {"rows": table.num_rows, "completeness": round(ratio, 6), "threshold": threshold},
    )


def catalogue_schema(column_types: Mapping[str, str]) -> pdr.DataFrameSchema:
    """Pandera schema: every catalogue column, when present, has its catalogue type."""
    return pdr.DataFrameSchema(
        {
            name: pdr.Column(pd.ArrowDtype(arrow_type(kind)), nullable=True, required=False)
            for name, kind in column_types.items()
        },
        strict=False,
        name="tascomi increment",
    )


def validate_types(table: pa.Table, column_types: Mapping[str, str]) -> RuleOutcome:
    typed = [c for c in column_types if c in table.column_names]
    if not typed:
        return RuleOutcome(True, "no typed columns present", {"typed_columns": 0})
    frame = table.select(typed).to_pandas(types_mapper=pd.ArrowDtype)
    try:
        catalogue_schema(column_types).validate(frame, lazy=True)
    except pdr.errors.SchemaErrors as exc:
        wrong = sorted(set(exc.failure_cases["column"].dropna().astype(str)))
        return RuleOutcome(
            False,
            f"{len(wrong)} column(s) not of their catalogue type",
            {"typed_columns": len(typed), "wrong_columns": wrong[:50]},
        )
    return RuleOutcome(
        True, f"{len(typed)} typed columns match the catalogue", {"typed_columns": len(typed)}
    )


# --------------------------------------------------------------------------- rules per stage
# Each takes the lake and a partition value (YYYYMMDD): what the table's checks evaluate.


def parsed_unique_outcome(lake: "Lake", table: "TascomiTable", value: str) -> RuleOutcome:
    rows = tascomi_table(lake, "parsed", table.name).read(
        value, columns=[table.id_column, "import_date"]
    )
    return uniqueness(rows, [table.id_column, "import_date"])


def parsed_complete_outcome(lake: "Lake", table: "TascomiTable", value: str) -> RuleOutcome:
    column = table.completeness_column
    rows = tascomi_table(lake, "parsed", table.name).read(value, columns=[column])
    return completeness(rows, column)


def cast_outcome(lake: "Lake", table: "TascomiTable", value: str) -> RuleOutcome:
    """Every catalogue value could be cast (the counts travel in the increment's footer)."""
    notes = tascomi_table(lake, "increment", table.name).file_metadata(value)
    by_column = json.loads(notes.get(CAST_FAILURES_KEY, "{}"))
    total = sum(by_column.values())
    return RuleOutcome(
        total == 0,
        "no cast failures" if not total else f"{total} values could not be cast (now null)",
        {"cast_failures_total": total, "cast_failures_by_column": by_column},
    )


def drift_outcome(
    lake: "Lake", table: "TascomiTable", value: str, types: Mapping[str, str]
) -> RuleOutcome:
    """No catalogue column missing, no column new or gone since the previous increment."""
    store = tascomi_table(lake, "increment", table.name)
    current = store.read(value)
    if current.num_rows == 0:
        return RuleOutcome(True, "no rows", {"rows": 0})
    columns = set(current.column_names)
    missing = sorted(c for c in types if c not in columns)
    before_value = store.latest_before(value)
    new: list[str] = []
    gone: list[str] = []
    if before_value is not None:
        previous = store.read(before_value)
        if previous.num_rows:
            before = set(previous.column_names)
            new, gone = sorted(columns - before), sorted(before - columns)
    passed = not (missing or new or gone)
    return RuleOutcome(
        passed,
        "no drift"
        if passed
        else f"{len(missing)} catalogue columns missing, {len(new)} new, {len(gone)} gone",
        {"catalogue_columns_missing": missing, "new_columns": new, "columns_gone": gone},
    )


def types_outcome(
    lake: "Lake", table: "TascomiTable", value: str, types: Mapping[str, str]
) -> RuleOutcome:
    return validate_types(tascomi_table(lake, "increment", table.name).read(value), types)


def snapshot_unique_outcome(lake: "Lake", table: "TascomiTable", value: str) -> RuleOutcome:
    rows = tascomi_table(lake, "snapshot", table.name).read(value, columns=[table.id_column])
    return uniqueness(rows, [table.id_column])
