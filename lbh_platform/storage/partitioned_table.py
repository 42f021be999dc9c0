"""Hive-style partitioned parquet tables on local disk or S3, written atomically.

Every partition is a single parquet file ``<table>/<column>=<value>/part-0.parquet``. It is
written under a hidden temporary name in the same folder (readers, Hive, Athena, DuckDB's
catalogue views and pyarrow ignore names starting with ``_``) and then published by a move:
a rename on local disk, a server-side copy on S3 (an S3 object appears whole or not at all).
A run killed before the move leaves the previous partition in place and readable; re-running
a partition replaces it, never appends.

A table may know its catalogue identity (database, table name): after each publish it tells
every configured catalogue (Glue, the local DuckDB one), so nothing needs a crawler.

Beyond writing: :meth:`PartitionedTable.rewrite` publishes a partition again through a row
transform (erasure), :meth:`PartitionedTable.republish` publishes it again unchanged (a new
write time, for the snapshots' lineage), and :meth:`PartitionedTable.remove_partition` takes
it out of every catalogue and then the store (retention). Each is atomic per partition.
"""

import contextlib
import logging
import os
import posixpath
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lbh_platform.catalog.base import (
    Catalog,
    PartitionRegistration,
    PartitionRemoval,
    Unregistering,
)
from lbh_platform.common.errors import DataError
from lbh_platform.storage.aws import is_s3, s3_filesystem
from lbh_platform.storage.parquet_encoding import dictionary_columns

if TYPE_CHECKING:
    from lbh_platform.erasure.personal import PersonalData

log = logging.getLogger(__name__)
DATA_FILE = "part-0.parquet"
TEMPORARY_PREFIX = "_tmp-"
# A temporary older than this belongs to a writer that died (no write lasts this long); the
# next publish to its table removes it. Writers' own temporaries are always younger.
TEMPORARY_MAX_AGE_SECONDS = 24 * 3600.0
# A table's whole tree is swept for such litter at most this often per process.
SWEEP_INTERVAL_SECONDS = 3600.0
_last_swept: dict[str, float] = {}


@dataclass(frozen=True)
class WriteResult:
    path: str
    rows: int
    bytes_written: int


@dataclass(frozen=True)
class RewriteResult:
    """A partition published again through a transform: its rows before and after."""

    path: str
    rows_before: int
    rows_after: int
    bytes_written: int


@dataclass(frozen=True)
class CatalogIdentity:
    """Where a table is registered: a catalogue database and a table name in it, and its
    declared personal data when known (Glue column marks, the local masked view)."""

    database: str
    table: str
    personal: "PersonalData | None" = None


def filesystem_for(root: str, region: str | None = None) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and base path for a zone root (a folder or ``s3://bucket/prefix``).

    S3 goes through :func:`lbh_platform.storage.aws.s3_filesystem`, so the region and the
    endpoint (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``) are the same as boto3's.
    """
    if is_s3(root):
        return s3_filesystem(region), root.split("://", 1)[1].rstrip("/")
    if root.startswith("file://"):
        root = root[len("file://") :]
    elif "://" in root:
        return pafs.FileSystem.from_uri(root)
    return pafs.LocalFileSystem(), os.path.abspath(root).replace(os.sep, "/")


def root_uri(fs: pafs.FileSystem, base: str) -> str:
    """The location catalogues record: ``s3://bucket/key`` on S3, an absolute path locally."""
    if isinstance(fs, pafs.S3FileSystem):
        return f"s3://{base}"
    if isinstance(fs, pafs.LocalFileSystem):
        return base
    return f"{fs.type_name}://{base}"


def read_schema(path: str, region: str | None = None) -> pa.Schema:
    """The schema of a published partition (a Parquet file or a folder of them), local or
    ``s3://``, from the file footers only."""
    fs, base = filesystem_for(path, region)
    return ds.dataset(base, filesystem=fs, format="parquet").schema


class PartitionWriter:
    """A partition being written one piece at a time (see :meth:`PartitionedTable.stream`);
    every piece becomes one or more row groups of the one file. The Parquet writer opens at
    the first rows, which choose its encodings (:mod:`lbh_platform.storage.parquet_encoding`)."""

    def __init__(self, sink: pa.NativeFile, schema: pa.Schema, statistics: bool | list[str] = True):
        self._sink = sink
        self._writer: pq.ParquetWriter | None = None
        self.schema = schema
        self.statistics = statistics
        self.rows = 0
        self.result: WriteResult | None = None  # set once the partition is published

    def _open(self, first: pa.Table | pa.RecordBatch | None) -> pq.ParquetWriter:
        dictionary = dictionary_columns(self.schema, first)
        return pq.ParquetWriter(
            self._sink,
            self.schema,
            compression="snappy",
            use_dictionary=dictionary,
            write_statistics=self.statistics,
        )

    def write(self, table: pa.Table | pa.RecordBatch) -> None:
        """Append rows whose columns are exactly the partition's schema."""
        if not table.schema.equals(self.schema, check_metadata=False):
            raise ValueError(f"rows do not match the partition schema: {table.schema}")
        if table.num_rows:
            if self._writer is None:
                self._writer = self._open(table)
            if isinstance(table, pa.RecordBatch):
                self._writer.write_batch(table)
            else:
                self._writer.write_table(table)
            self.rows += table.num_rows

    def close(self) -> None:
        """Finish the file (with no rows written, a file of the schema alone)."""
        if self._writer is None:
            self._writer = self._open(None)
        self._writer.close()


class PartitionedTable:
    """One table's partitions under ``base`` in ``fs``; partition values are strings."""

    def __init__(
        self,
        fs: pafs.FileSystem,
        base: str,
        partition_column: str,
        display: str,
        *,
        catalog: CatalogIdentity | None = None,
        catalogs: Sequence[Catalog] = (),
        temporary_max_age: float = TEMPORARY_MAX_AGE_SECONDS,
        statistics: Sequence[str] | None = None,
    ):
        self.temporary_max_age = temporary_max_age
        # Columns whose min/max go in the footers (None: every column). A reader prunes row
        # groups only by the columns it filters on; statistics of the rest cost write time.
        self.statistics = None if statistics is None else tuple(statistics)
        self.fs = fs
        self.base = base.rstrip("/")
        self.partition_column = partition_column
        self.display = display
        self.catalog = catalog
        self.catalogs = tuple(catalogs)

    def __repr__(self) -> str:
        return f"PartitionedTable({self.display})"

    def statistics_for(self, schema: pa.Schema) -> bool | list[str]:
        """``write_statistics`` for a file of ``schema``: every column, or the chosen ones."""
        if self.statistics is None:
            return True
        chosen = [name for name in self.statistics if name in schema.names]
        return chosen or False

    @property
    def uri(self) -> str:
        return root_uri(self.fs, self.base)

    def partition_dir(self, value: str) -> str:
        return f"{self.base}/{self.partition_column}={value}"

    def location(self, value: str | None = None) -> str:
        """Human-readable location (for metadata and logs)."""
        return self.display if value is None else f"{self.display}/{self.partition_column}={value}"

    def exists(self, value: str) -> bool:
        info = self.fs.get_file_info(f"{self.partition_dir(value)}/{DATA_FILE}")
        return info.type == pafs.FileType.File

    def require(self, value: str, what: str, stage: str) -> None:
        """Refuse to build on partition ``value`` of ``stage`` before it is materialised;
        ``what`` names the table and partition being built ("tascomi appeals partition D")."""
        if not self.exists(value):
            raise DataError(
                f"{what}: {stage} is not materialised ({self.location(value)}); "
                "materialise it first"
            )

    def latest_before(self, value: str) -> str | None:
        """The newest published partition before ``value`` (the base of a snapshot), if any."""
        earlier = [p for p in self.partitions() if p < value]
        return earlier[-1] if earlier else None

    def partitions(self) -> list[str]:
        """Published partition values, sorted: folders holding a data file."""
        return sorted(self.written())

    def written(self) -> dict[str, float]:
        """Published partition values and when each one's file was written (seconds since
        the epoch, as the store lists it): what :mod:`lbh_platform.common.lineage` judges
        freshness by.

        One recursive listing (a single paginated LIST on S3) rather than a request per
        partition; folders holding only a temporary file do not count.
        """
        selector = pafs.FileSelector(self.base, allow_not_found=True, recursive=True)
        prefix = f"{self.partition_column}="
        found: dict[str, float] = {}
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File or info.base_name != DATA_FILE:
                continue
            folder = posixpath.dirname(info.path.rstrip("/"))
            name = posixpath.basename(folder)
            if name.startswith(prefix) and posixpath.dirname(folder) == self.base:
                mtime = info.mtime_ns
                found[name[len(prefix) :]] = 0.0 if mtime is None else mtime / 1e9
        return found

    def write(self, value: str, table: pa.Table) -> WriteResult:
        """Publish ``table`` as partition ``value`` atomically, replacing any earlier one,
        then register the partition in every catalogue."""
        if self.partition_column in table.column_names:
            table = table.drop_columns([self.partition_column])
        folder = self.partition_dir(value)
        if not isinstance(self.fs, pafs.S3FileSystem):
            # S3 has no folders; creating one would only leave marker objects behind.
            self.fs.create_dir(folder, recursive=True)
        temporary = f"{folder}/{TEMPORARY_PREFIX}{uuid.uuid4().hex}.parquet"
        final = f"{folder}/{DATA_FILE}"
        try:
            with self.fs.open_output_stream(temporary) as sink:
                pq.write_table(
                    table,
                    sink,
                    compression="snappy",
                    write_statistics=self.statistics_for(table.schema),
                )
            size = self.fs.get_file_info(temporary).size or 0
            self._publish(temporary, final)
        except BaseException:
            with contextlib.suppress(OSError, FileNotFoundError):
                self.fs.delete_file(temporary)
            raise
        self._register(value, table.schema)
        return WriteResult(self.location(value), table.num_rows, size)

    @contextlib.contextmanager
    def stream(
        self, value: str, schema: pa.Schema, notes: dict[str, str] | None = None
    ) -> Iterator[PartitionWriter]:
        """Publish partition ``value`` written piece by piece, atomically, as :meth:`write` does:
        memory holds one piece, not the partition.

        The pieces go to a hidden temporary file (on S3 a multipart upload of the hidden key,
        parts sent while writing); only when the block exits without an error is it moved into
        place and registered. An error deletes the temporary file and leaves any earlier
        version of the partition as it was. ``writer.result`` is the WriteResult afterwards;
        ``notes`` go in the file's footer.
        """
        if self.partition_column in schema.names:
            schema = schema.remove(schema.get_field_index(self.partition_column))
        schema = schema.with_metadata(notes) if notes else schema.remove_metadata()
        folder = self.partition_dir(value)
        if not isinstance(self.fs, pafs.S3FileSystem):
            self.fs.create_dir(folder, recursive=True)
        temporary = f"{folder}/{TEMPORARY_PREFIX}{uuid.uuid4().hex}.parquet"
        try:
            with self.fs.open_output_stream(temporary) as sink:
                writer = PartitionWriter(sink, schema, self.statistics_for(schema))
                try:
                    yield writer
                finally:
                    writer.close()
            size = self.fs.get_file_info(temporary).size or 0
            self._publish(temporary, f"{folder}/{DATA_FILE}")
        except BaseException:
            with contextlib.suppress(OSError, FileNotFoundError):
                self.fs.delete_file(temporary)
            raise
        self._register(value, schema)
        writer.result = WriteResult(self.location(value), writer.rows, size)

    @contextlib.contextmanager
    def open_parquet(self, value: str) -> Iterator[pq.ParquetFile]:
        """Partition ``value``'s file, to read by row group or batch (the partition column is
        in the path, not in the file)."""
        with self.fs.open_input_file(f"{self.partition_dir(value)}/{DATA_FILE}") as source:
            yield pq.ParquetFile(source)

    def publish_file(
        self, value: str, source: str, notes: dict[str, str] | None = None
    ) -> WriteResult:
        """Publish a parquet file written elsewhere in this filesystem (e.g. by Spark) as
        partition ``value``, atomically, then register it like :meth:`write`.

        Without ``notes`` the file itself is moved into place. With ``notes`` (footer
        key-value metadata) it is streamed batch by batch into a hidden temporary file with
        the notes added, then moved (memory stays bounded by one row group) and the source
        is left for the caller to delete with its staging folder.
        """
        folder = self.partition_dir(value)
        if not isinstance(self.fs, pafs.S3FileSystem):
            self.fs.create_dir(folder, recursive=True)
        final = f"{folder}/{DATA_FILE}"
        with self.fs.open_input_file(source) as handle:
            parquet = pq.ParquetFile(handle)
            schema, rows = parquet.schema_arrow, parquet.metadata.num_rows
            if not notes:
                moving = source
            else:
                moving = f"{folder}/{TEMPORARY_PREFIX}{uuid.uuid4().hex}.parquet"
                metadata = {
                    **(schema.metadata or {}),
                    **{k.encode(): v.encode() for k, v in notes.items()},
                }
                try:
                    with (
                        self.fs.open_output_stream(moving) as sink,
                        pq.ParquetWriter(
                            sink,
                            schema.with_metadata(metadata),
                            compression="snappy",
                            write_statistics=self.statistics_for(schema),
                        ) as writer,
                    ):
                        for batch in parquet.iter_batches():
                            writer.write_batch(batch)
                except BaseException:
                    with contextlib.suppress(OSError, FileNotFoundError):
                        self.fs.delete_file(moving)
                    raise
        try:
            self._publish(moving, final)
        except BaseException:
            if moving != source:
                with contextlib.suppress(OSError, FileNotFoundError):
                    self.fs.delete_file(moving)
            raise
        size = self.fs.get_file_info(final).size or 0
        self._register(value, schema)
        return WriteResult(self.location(value), rows, size)

    def _publish(self, temporary: str, final: str) -> None:
        """The one step that makes new data visible (a seam for crash tests)."""
        self.fs.move(temporary, final)

    def sweep_temporaries(self, now: float | None = None) -> list[str]:
        """Remove what killed writers left in this table (``_tmp-*`` files and Spark staging
        folders older than ``temporary_max_age``); returns the paths removed.

        Readers never see them (names starting with ``_`` are hidden), but they cost storage
        and accumulate: a run killed mid-write cannot clean up after itself.
        """
        now = time.time() if now is None else now
        selector = pafs.FileSelector(self.base, allow_not_found=True, recursive=True)
        stale = [
            info
            for info in self.fs.get_file_info(selector)
            if info.base_name.startswith(TEMPORARY_PREFIX)
            and info.mtime_ns is not None
            and now - info.mtime_ns / 1e9 > self.temporary_max_age
        ]
        removed: list[str] = []
        for info in sorted(stale, key=lambda i: i.path):
            if any(info.path.startswith(f"{done}/") for done in removed):
                continue  # inside a staging folder already removed
            with contextlib.suppress(OSError, FileNotFoundError):
                if info.type == pafs.FileType.Directory:
                    self.fs.delete_dir(info.path)
                else:
                    self.fs.delete_file(info.path)
                removed.append(info.path)
        if removed:
            log.warning(
                "%s: removed %d temporary file(s) left by killed writers (older than %.0f h)",
                self.display,
                len(removed),
                self.temporary_max_age / 3600,
            )
        return removed

    def _sweep_now_and_then(self) -> None:
        now = time.monotonic()
        key = self.base
        if now - _last_swept.get(key, -SWEEP_INTERVAL_SECONDS) >= SWEEP_INTERVAL_SECONDS:
            _last_swept[key] = now
            self.sweep_temporaries()

    def _register(self, value: str, schema: pa.Schema) -> None:
        self._sweep_now_and_then()
        if self.catalog is None or not self.catalogs:
            return
        registration = PartitionRegistration(
            database=self.catalog.database,
            table=self.catalog.table,
            location=self.uri,
            schema=schema.remove_metadata(),
            partition_column=self.partition_column,
            partition_value=value,
            personal=self.catalog.personal,
        )
        for catalog in self.catalogs:
            catalog.register(registration)

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

    # ------------------------------------------------------------------ rewrite, remove

    def rewrite(
        self,
        value: str,
        transform: Callable[[pa.Table], pa.Table],
        notes: Mapping[str, str] | None = None,
    ) -> RewriteResult:
        """Publish partition ``value`` again with every row group passed through ``transform``
        (same schema out as in), atomically: a hidden temporary file moved into place, so a
        reader or a crash sees the old file or the new one, never a mix.

        The footer's notes are kept (lineage records, cast counts), ``notes`` replacing any of
        the same name. The catalogues need nothing: location and schema are unchanged.
        """
        folder = self.partition_dir(value)
        temporary = f"{folder}/{TEMPORARY_PREFIX}{uuid.uuid4().hex}.parquet"
        rows_before = rows_after = 0
        try:
            with self.fs.open_input_file(f"{folder}/{DATA_FILE}") as source:
                parquet = pq.ParquetFile(source)
                schema = parquet.schema_arrow
                if notes:
                    metadata = dict(schema.metadata or {})
                    metadata.update({k.encode(): v.encode() for k, v in notes.items()})
                    schema = schema.with_metadata(metadata)
                with self.fs.open_output_stream(temporary) as sink:
                    writer = PartitionWriter(sink, schema, self.statistics_for(schema))
                    try:
                        for group in range(parquet.num_row_groups):
                            rows = parquet.read_row_group(group)
                            rows_before += rows.num_rows
                            kept = transform(rows)
                            writer.write(kept.replace_schema_metadata(schema.metadata))
                    finally:
                        writer.close()
                    rows_after = writer.rows
            size = self.fs.get_file_info(temporary).size or 0
            self._publish(temporary, f"{folder}/{DATA_FILE}")
        except BaseException:
            with contextlib.suppress(OSError, FileNotFoundError):
                self.fs.delete_file(temporary)
            raise
        return RewriteResult(self.location(value), rows_before, rows_after, size)

    def republish(self, value: str) -> WriteResult:
        """Publish partition ``value`` again unchanged: a copy moved into place, so its write
        time is now (what lineage judges a snapshot's inputs by) and its bytes are the same."""
        folder = self.partition_dir(value)
        final = f"{folder}/{DATA_FILE}"
        temporary = f"{folder}/{TEMPORARY_PREFIX}{uuid.uuid4().hex}.parquet"
        try:
            self.fs.copy_file(final, temporary)
            size = self.fs.get_file_info(temporary).size or 0
            self._publish(temporary, final)
        except BaseException:
            with contextlib.suppress(OSError, FileNotFoundError):
                self.fs.delete_file(temporary)
            raise
        with self.open_parquet(value) as parquet:
            rows = parquet.metadata.num_rows
        return WriteResult(self.location(value), rows, size)

    def remove_partition(self, value: str) -> bool:
        """Remove partition ``value``: first from every catalogue (no query then reads it),
        then its data file (one atomic delete), then its folder. Idempotent: a partition
        already gone is still unregistered. Returns whether its data file was there."""
        folder = self.partition_dir(value)
        existed = self.exists(value)
        self._unregister(value)
        if existed:
            self.fs.delete_file(f"{folder}/{DATA_FILE}")
        if self.fs.get_file_info(folder).type == pafs.FileType.Directory:
            self.fs.delete_dir(folder)
        log.info("%s: removed partition %s", self.display, value)
        return existed

    def _unregister(self, value: str) -> None:
        if self.catalog is None:
            return
        removal = PartitionRemoval(
            database=self.catalog.database,
            table=self.catalog.table,
            location=self.uri,
            partition_column=self.partition_column,
            partition_value=value,
        )
        for catalog in self.catalogs:
            if isinstance(catalog, Unregistering):
                catalog.unregister(removal)
            else:
                log.warning(
                    "%s: catalogue %r cannot forget partition %s; remove it there by hand",
                    self.display,
                    catalog,
                    value,
                )
