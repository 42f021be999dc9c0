"""Building blocks of data-quality rules, shared by every pipeline (no Dagster here)."""

from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa


@dataclass(frozen=True)
class RuleOutcome:
    passed: bool
    description: str
    metadata: dict[str, object] = field(default_factory=dict)


def duplicate_count(table: pa.Table, columns: Sequence[str]) -> int:
    """Rows beyond the first for each combination of ``columns`` (nulls compare equal)."""
    if table.num_rows == 0:
        return 0
    groups = table.select(list(columns)).group_by(list(columns), use_threads=False).aggregate([])
    return table.num_rows - groups.num_rows
