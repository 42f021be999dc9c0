"""Data-quality rules that replace the original's PyDeequ checks (no Dagster here).

Column and type validation uses pandera schemas generated from the column-type catalogue;
the simple counting rules run on Arrow directly.
"""

from collections.abc import Mapping, Sequence

import pandas as pd
import pandera.pandas as pdr
import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common.quality import RuleOutcome, duplicate_count
from lbh_platform.common.recast import arrow_type

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
