"""The data lake's zones and where each pipeline keeps each stage (the original's layout)."""

from functools import cached_property

import pyarrow.fs as pafs

from lbh_platform.storage.partitioned_table import PartitionedTable, filesystem_for

TASCOMI_LOCATIONS: dict[str, tuple[str, str, str]] = {
    # stage: (zone, prefix, partition column)
    "api_response": ("raw", "planning/tascomi/api-responses", "import_date"),
    "parsed": ("raw", "planning/tascomi/parsed", "import_date"),
    "increment": ("refined", "planning/tascomi/increment", "import_date"),
    "snapshot": ("refined", "planning/tascomi/snapshot", "snapshot_date"),
}
ALLOY_LOCATIONS: dict[str, tuple[str, str, str]] = {
    "api_response": ("raw", "env-services/alloy/api-responses", "import_date"),
    "snapshot": ("refined", "env-services/alloy/snapshots", "snapshot_date"),
}


class Lake:
    """Zones by name (``raw``, ``refined``), each a local folder or an ``s3://`` URI."""

    def __init__(self, zones: dict[str, str]):
        self.zones = {name: root.rstrip("/") for name, root in zones.items()}

    @cached_property
    def _filesystems(self) -> dict[str, tuple[pafs.FileSystem, str]]:
        return {name: filesystem_for(root) for name, root in self.zones.items()}

    def table(self, zone: str, prefix: str, name: str, partition_column: str) -> PartitionedTable:
        fs, base = self._filesystems[zone]
        return PartitionedTable(
            fs, f"{base}/{prefix}/{name}", partition_column, f"{self.zones[zone]}/{prefix}/{name}"
        )

    def tascomi(self, stage: str, table: str) -> PartitionedTable:
        zone, prefix, column = TASCOMI_LOCATIONS[stage]
        return self.table(zone, prefix, table, column)

    def alloy(self, stage: str, dataset: str, table: str) -> PartitionedTable:
        zone, prefix, column = ALLOY_LOCATIONS[stage]
        return self.table(zone, f"{prefix}/{dataset}", table, column)
