"""Where each tenure stage lives in the lake, and the raw event files the Kafka S3 sink wrote.

Tables go through :meth:`Lake.table` (atomic partition writes). Event files are read and
written with the raw zone's own pyarrow filesystem, so the same code lists a local folder or an
S3 prefix.
"""

import posixpath
import uuid
from dataclasses import dataclass

import pyarrow.fs as pafs

from lbh_platform.common.errors import DataError
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import PartitionedTable

TABLE = "tenure_information"
TOPIC = "tenure_api"
EVENTS_PREFIX = "event-streaming"
# stage: (zone, prefix, partition column); tables are named TABLE under the prefix.
TENURE_LOCATIONS: dict[str, tuple[str, str, str]] = {
    "initial_state": ("raw", "housing/mtfh", "import_date"),
    "events": ("refined", "housing/mtfh/tenure/events", "import_date"),
    "events_quarantine": ("refined", "housing/mtfh/tenure/events_quarantine", "import_date"),
    "snapshot": ("refined", "housing/mtfh/tenure/snapshot", "snapshot_date"),
    "deletions": ("refined", "housing/mtfh/tenure/deletions", "snapshot_date"),
}
STAGES: tuple[str, ...] = tuple(TENURE_LOCATIONS)


# Names in the catalogue (Glue and the local DuckDB), one database per zone.
CATALOG_NAMES = {
    "initial_state": "tenure_information",
    "events": "tenure_events",
    "events_quarantine": "tenure_events_quarantine",
    "snapshot": "tenure_information",
    "deletions": "tenure_deletions",
}


def tenure_table(lake: Lake, stage: str) -> PartitionedTable:
    """``$LBH_RAW_ZONE/housing/mtfh/tenure_information/import_date=...`` for the initial state;
    ``$LBH_REFINED_ZONE/housing/mtfh/tenure/<stage>/tenure_information/...`` for the rest."""
    if stage not in TENURE_LOCATIONS:
        raise KeyError(f"unknown tenure stage {stage!r}; stages are {list(STAGES)}")
    zone, prefix, column = TENURE_LOCATIONS[stage]
    return lake.table(
        zone,
        prefix,
        TABLE,
        column,
        database=lake.database("housing", zone),
        catalog_table=CATALOG_NAMES[stage],
    )


@dataclass(frozen=True)
class EventFile:
    name: str
    path: str
    size: int


class EventFiles:
    """``$LBH_RAW_ZONE/event-streaming/<topic>/import_date=YYYYMMDD/<file>``, one event per file.

    Names starting with ``_`` or ``.`` are in-flight temporaries (ours or a sink's) and are
    never listed.
    """

    def __init__(self, lake: Lake, topic: str = TOPIC):
        # A PartitionedTable gives the raw zone's filesystem and base path (local or S3)
        # through the lake's public API; the files themselves are not parquet partitions.
        located = lake.table("raw", EVENTS_PREFIX, topic, "import_date")
        self.fs: pafs.FileSystem = located.fs
        self.base = located.base
        self._located = located

    def location(self, value: str | None = None) -> str:
        return self._located.location(value)

    def folder(self, value: str) -> str:
        return self._located.partition_dir(value)

    def days(self) -> list[str]:
        """``YYYYMMDD`` values of the import_date folders present, sorted."""
        selector = pafs.FileSelector(self.base, allow_not_found=True, recursive=False)
        values = []
        for info in self.fs.get_file_info(selector):
            name = posixpath.basename(info.path.rstrip("/"))
            if info.type == pafs.FileType.Directory and name.startswith("import_date="):
                value = name.split("=", 1)[1]
                if len(value) == 8 and value.isdigit():
                    values.append(value)
        return sorted(values)

    def files(self, value: str) -> list[EventFile]:
        """The day's event files, sorted by name (the sink's names sort by offset)."""
        selector = pafs.FileSelector(self.folder(value), allow_not_found=True, recursive=False)
        found = []
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File or info.base_name.startswith(("_", ".")):
                continue
            found.append(EventFile(info.base_name, info.path, info.size or 0))
        return sorted(found, key=lambda f: f.name)

    def read(self, file: EventFile) -> bytes:
        try:
            with self.fs.open_input_stream(file.path) as stream:
                return stream.read()
        except OSError as exc:
            raise DataError(f"tenure event file {file.path}: cannot read it: {exc}") from exc

    def write(self, value: str, name: str, payload: bytes) -> str:
        """Write one event file atomically (temporary name, then move), as a sink would."""
        if "/" in name or name.startswith(("_", ".")):
            raise ValueError(f"event file name {name!r} must be a plain, visible file name")
        folder = self.folder(value)
        if not isinstance(self.fs, pafs.S3FileSystem):
            self.fs.create_dir(folder, recursive=True)
        temporary = f"{folder}/_tmp-{uuid.uuid4().hex}"
        with self.fs.open_output_stream(temporary) as sink:
            sink.write(payload)
        self.fs.move(temporary, f"{folder}/{name}")
        return f"{folder}/{name}"
