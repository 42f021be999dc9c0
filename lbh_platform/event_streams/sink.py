"""The raw event files the council's S3 sink writes, as it writes them.

The Confluent S3 sink's ``TimeBasedPartitioner`` (``path.format='import_year'=YYYY/
'import_month'=MM/'import_day'=dd/'import_date'=YYYYMMdd``, UTC, daily) puts every event of a
day at ``$LBH_RAW_ZONE/event-streaming/<topic>/import_year=YYYY/import_month=MM/import_day=dd/
import_date=YYYYMMdd/<topic>+<partition>+<offset>.snappy.parquet``. A day's files are every
visible file found recursively under that ``import_date=`` folder and under the flat
``event-streaming/<topic>/import_date=YYYYMMdd/`` (an older layout, still read). Names starting
with ``_`` or ``.`` (in the file or a folder on the way) are in-flight temporaries, ours or a
sink's, and are never listed.

Files are read and written with the raw zone's own pyarrow filesystem, so the same code lists a
local folder or an S3 prefix; folders are walked level by level (one listing per year, month
and day on S3), never the whole topic at once.
"""

import posixpath
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow.fs as pafs

from lbh_platform.common.errors import DataError
from lbh_platform.storage.lake import Lake

EVENTS_PREFIX = "event-streaming"
_LEVELS = ("import_year", "import_month", "import_day", "import_date")


@dataclass(frozen=True)
class EventFile:
    """One raw file: ``name`` is its path under the day's ``import_date=`` folder."""

    name: str
    path: str
    size: int
    modified: datetime | None = None


def nested_folder(value: str) -> str:
    """``import_year=2022/import_month=08/import_day=10/import_date=20220810``."""
    return "/".join(
        f"{level}={part}"
        for level, part in zip(_LEVELS, (value[:4], value[4:6], value[6:], value), strict=True)
    )


class EventFiles:
    """One topic's raw event files, by import date (``YYYYMMDD``)."""

    def __init__(self, lake: Lake, topic: str):
        # A PartitionedTable gives the raw zone's filesystem and base path (local or S3)
        # through the lake's public API; the files themselves are not parquet partitions.
        located = lake.table("raw", EVENTS_PREFIX, topic, "import_date")
        self.topic = topic
        self.fs: pafs.FileSystem = located.fs
        self.base = located.base
        self.display = located.display

    def location(self, value: str | None = None) -> str:
        """Where the sink writes the day's files (for messages and metadata)."""
        return self.display if value is None else f"{self.display}/{nested_folder(value)}"

    def folders(self, value: str) -> list[str]:
        """The day's folders that may hold files: the sink's and the flat one."""
        return [f"{self.base}/{nested_folder(value)}", f"{self.base}/import_date={value}"]

    def _children(self, folder: str, level: str) -> list[tuple[str, str]]:
        selector = pafs.FileSelector(folder, allow_not_found=True, recursive=False)
        found = []
        for info in self.fs.get_file_info(selector):
            name = posixpath.basename(info.path.rstrip("/"))
            if info.type == pafs.FileType.Directory and name.startswith(f"{level}="):
                found.append((name.split("=", 1)[1], info.path.rstrip("/")))
        return sorted(found)

    def days(self, newest: int | None = None) -> list[str]:
        """``YYYYMMDD`` of the day folders present (either layout), sorted; with ``newest``,
        only the newest that many, walking the years, months and days from the newest down
        and stopping there (a few listings, however long the topic's history)."""
        flat = {v for v, _ in self._children(self.base, "import_date")}
        nested: list[str] = []
        for value in self._nested_days_newest_first():
            if newest is not None and len(nested) >= newest:
                break
            nested.append(value)
        found = sorted(v for v in flat | set(nested) if len(v) == 8 and v.isdigit())
        if newest is None:
            return found
        return found[-newest:] if newest > 0 else []

    def _nested_days_newest_first(self) -> Iterator[str]:
        for year, year_path in reversed(self._children(self.base, "import_year")):
            for month, month_path in reversed(self._children(year_path, "import_month")):
                for day, day_path in reversed(self._children(month_path, "import_day")):
                    for value, _ in self._children(day_path, "import_date"):
                        if value == f"{year}{month}{day}":
                            yield value

    def files(self, value: str) -> list[EventFile]:
        """The day's event files, sorted by name (the sink's names sort by offset)."""
        found: dict[str, EventFile] = {}
        for folder in self.folders(value):
            selector = pafs.FileSelector(folder, allow_not_found=True, recursive=True)
            for info in self.fs.get_file_info(selector):
                if info.type != pafs.FileType.File:
                    continue
                name = posixpath.relpath(info.path, folder)
                if any(part.startswith(("_", ".")) for part in name.split("/")):
                    continue
                modified = info.mtime
                if modified is not None and modified.tzinfo is None:
                    modified = modified.replace(tzinfo=UTC)
                file = EventFile(name, info.path, info.size or 0, modified)
                found.setdefault(name, file)
        return sorted(found.values(), key=lambda f: f.name)

    def read(self, file: EventFile) -> bytes:
        try:
            with self.fs.open_input_stream(file.path) as stream:
                return stream.read()
        except OSError as exc:
            raise DataError(f"event file {file.path}: cannot read it: {exc}") from exc

    def write(self, value: str, name: str, payload: bytes, *, flat: bool = False) -> str:
        """Write one event file atomically (temporary name, then move), as the sink would:
        in the sink's nested folders, or the flat ``import_date=`` one."""
        if "/" in name or name.startswith(("_", ".")):
            raise ValueError(f"event file name {name!r} must be a plain, visible file name")
        folder = self.folders(value)[1 if flat else 0]
        if not isinstance(self.fs, pafs.S3FileSystem):
            self.fs.create_dir(folder, recursive=True)
        temporary = f"{folder}/_tmp-{uuid.uuid4().hex}"
        with self.fs.open_output_stream(temporary) as sink:
            sink.write(payload)
        self.fs.move(temporary, f"{folder}/{name}")
        return f"{folder}/{name}"
