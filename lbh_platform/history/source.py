"""Where one table's history comes from and goes: the spec a source hands the history.

A source (a Tascomi table, an Alloy table, an event-streamed entity) is described by its
increments (what the batches read), its snapshots (whose footers record each batch; None for
a source whose every import is its own batch), the id column, where the history lives and,
for a source that deletes, the ids each batch deleted (an event stream's tombstones, the ids
a full export no longer holds): a deletion ends a version without opening another.

An event-streamed source hands its batches as partitions of the entities its events changed
(one row per id, the state after the day's events) and its deletions; the history then keeps
exactly the versions its snapshots went through.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from lbh_platform.catalog.base import table_name
from lbh_platform.history.columns import STORED
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import PartitionedTable

APPLIED_KEY = "lbh.applied"  # what a snapshot records as its batch (tascomi.stages.APPLIED_KEY)


@dataclass(frozen=True)
class HistorySource:
    """One table's history: ``what`` names it in errors and logs ("tascomi applications");
    ``table`` names the asset in its unit when the unit publishes several tables."""

    what: str
    history: PartitionedTable
    increments: PartitionedTable
    id_column: str
    snapshots: PartitionedTable | None = None
    applied_key: str = APPLIED_KEY
    # The ids batch ``valid_from`` (of these imports) deleted, or None: no deletions.
    deleted: Callable[[str, Sequence[str]], pa.Array | None] | None = None
    table: str | None = None

    def deleted_ids(self, valid_from: str, imports: Sequence[str]) -> pa.Array | None:
        if self.deleted is None:
            return None
        ids = self.deleted(valid_from, imports)
        return None if ids is None or len(ids) == 0 else ids

    def applied(self, value: str) -> Sequence[str] | None:
        """The imports snapshot ``value`` recorded as applied, or None."""
        if self.snapshots is None:
            return None
        text = self.snapshots.file_metadata(value).get(self.applied_key)
        return None if text is None else json.loads(text)


def history_table(
    lake: Lake,
    zone: str,
    prefix: str,
    name: str,
    database: str,
    catalog_table: str | None = None,
) -> PartitionedTable:
    """A history's segments: ``<zone>/<prefix>/<name>/segment=<segment>/``, registered as
    ``database.<catalog_table>`` (default ``history_<name>``). Their footers hold min/max of
    the validity columns only: "as of D" prunes row groups by those, and a segment is sorted
    by nothing else, so the record columns' statistics would prune nothing."""
    return lake.table(
        zone,
        prefix,
        name,
        "segment",
        database=database,
        catalog_table=catalog_table or table_name("history", name),
        statistics=STORED,
    )
