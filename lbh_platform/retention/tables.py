"""What retention is told about one table: its snapshots, the imports that may still need a
snapshot, and the guard its lineage needs. Each source's housekeeping makes these."""

from collections.abc import Callable
from dataclasses import dataclass

from lbh_platform.retention.policy import Guard
from lbh_platform.storage.partitioned_table import PartitionedTable


@dataclass(frozen=True)
class SnapshotTable:
    """``source``/``table`` is how the retention file names it (``tascomi/applications``,
    ``alloy/<dataset>/<table>``, ``event_streams/<entity>``)."""

    source: str
    table: str
    snapshots: PartitionedTable
    imports: Callable[[], list[str]]
    guard: Callable[[], Guard]

    @property
    def name(self) -> str:
        return f"{self.source}/{self.table}"
