"""Hive-style partitioned parquet tables on local disk or S3, written atomically.

Every partition is a single parquet file ``<table>/<column>=<value>/part-0.parquet``. It is
written under a hidden temporary name in the same folder (readers, Hive, Athena and
pyarrow ignore names starting with ``_``) and then published by a move: a rename on local
disk, a server-side copy on S3. A run killed before the move leaves the previous partition
in place and readable; re-running a partition replaces it, never appends.
"""

import contextlib
import os
import posixpath
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

DATA_FILE = "part-0.parquet"


@dataclass(frozen=True)
class WriteResult:
    path: str
    rows: int
    bytes_written: int


def filesystem_for(root: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and base path for a zone root (a folder or ``s3://bucket/prefix``)."""
    if "://" in root:
        return pafs.FileSystem.from_uri(root)
    return pafs.LocalFileSystem(), os.path.abspath(root).replace(os.sep, "/")


class PartitionedTable:
    """One table's partitions under ``base`` in ``fs``; partition values are strings."""

    def __init__(self, fs: pafs.FileSystem, base: str, partition_column: str, display: str):
        self.fs = fs
        self.base = base.rstrip("/")
        self.partition_column = partition_column
        self.display = display

    def __repr__(self) -> str:
        return f"PartitionedTable({self.display})"

    def partition_dir(self, value: str) -> str:
        return f"{self.base}/{self.partition_column}={value}"

    def location(self, value: str | None = None) -> str:
        """Human-readable location (for metadata and logs)."""
        return self.display if value is None else f"{self.display}/{self.partition_column}={value}"

    def exists(self, value: str) -> bool:
        info = self.fs.get_file_info(f"{self.partition_dir(value)}/{DATA_FILE}")
        return info.type == pafs.FileType.File

    def partitions(self) -> list[str]:
        """Published partition values, sorted."""
        selector = pafs.FileSelector(self.base, allow_not_found=True, recursive=False)
        prefix = f"{self.partition_column}="
        values = []
        for info in self.fs.get_file_info(selector):
            name = posixpath.basename(info.path.rstrip("/"))
            if info.type == pafs.FileType.Directory and name.startswith(prefix):
                value = name[len(prefix) :]
                if self.exists(value):
                    values.append(value)
        return sorted(values)

    def write(self, value: str, table: pa.Table) -> WriteResult:
        """Publish ``table`` as partition ``value`` atomically, replacing any earlier one."""
        if self.partition_column in table.column_names:
            table = table.drop_columns([self.partition_column])
        folder = self.partition_dir(value)
        self.fs.create_dir(folder, recursive=True)
        temporary = f"{folder}/_tmp-{uuid.uuid4().hex}.parquet"
        final = f"{folder}/{DATA_FILE}"
        try:
            with self.fs.open_output_stream(temporary) as sink:
                pq.write_table(table, sink, compression="snappy")
            size = self.fs.get_file_info(temporary).size or 0
            self.fs.move(temporary, final)
        except BaseException:
            with contextlib.suppress(OSError, FileNotFoundError):
                self.fs.delete_file(temporary)
            raise
        return WriteResult(self.location(value), table.num_rows, size)

    def read(self, value: str, columns: Sequence[str] | None = None) -> pa.Table:
        """Read one partition, with the partition column added back as a string."""
        path = f"{self.partition_dir(value)}/{DATA_FILE}"
        wanted = (
            None
            if columns is None
            else list(dict.fromkeys(c for c in columns if c != self.partition_column))
        )
        with self.fs.open_input_file(path) as source:
            if wanted is not None:
                present = set(pq.read_schema(source).names)
                wanted = [c for c in wanted if c in present]
            table = pq.read_table(source, columns=wanted)
        if columns is None or self.partition_column in columns:
            table = table.append_column(
                self.partition_column, pa.array([value] * table.num_rows, pa.string())
            )
        return table

    def file_metadata(self, value: str) -> dict[str, str]:
        """Key-value metadata stored in the partition's parquet footer (e.g. cast failures)."""
        path = f"{self.partition_dir(value)}/{DATA_FILE}"
        with self.fs.open_input_file(path) as source:
            raw = pq.read_schema(source).metadata or {}
        return {k.decode(): v.decode() for k, v in raw.items() if not k.startswith(b"ARROW")}

    def delete(self, value: str) -> None:
        self.fs.delete_dir(self.partition_dir(value))
