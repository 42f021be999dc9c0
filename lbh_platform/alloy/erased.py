"""Erased items left out of an Alloy export (docs/PERSONAL_DATA.md, "The next daily run").

Alloy still exports an item after its erasure from the lake; the export leaves it out of
every table (the root design's row and its joined designs' rows, by ``primary_item``) until
Alloy changes it again: a ``Last Edit Date`` after the erasure is the source's new data, and
the item then comes back whole.
"""

from collections.abc import Mapping

import pyarrow as pa

from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.alloy.transforms import last_edit_column
from lbh_platform.erasure.audit import AuditLog
from lbh_platform.erasure.locate import Removed
from lbh_platform.erasure.recorded import drop_erased_family
from lbh_platform.storage.lake import Lake

SOURCE = "alloy"  # as the erase command records it
ROOT_ID = "item_id"
JOINED_ID = "primary_item"


def drop_erased_export(
    lake: Lake, dataset: AlloyDataset, tables: Mapping[str, pa.Table]
) -> tuple[dict[str, pa.Table], dict[str, Removed]]:
    """The export's tables (``{table: rows}``, as read from its CSVs, before renames) without
    the erased items; what was removed per table."""
    root = tables[dataset.name]
    children = {name: rows for name, rows in tables.items() if name != dataset.name}
    kept_root, kept_children, removed = drop_erased_family(
        AuditLog.of(lake),
        SOURCE,
        dataset.name,
        root,
        ROOT_ID,
        children,
        JOINED_ID,
        changed_at=last_edit_column(root.column_names),
    )
    kept = {name: kept_children.get(name, kept_root) for name in tables}
    return kept, {name: removed.get(name, Removed()) for name in tables}
