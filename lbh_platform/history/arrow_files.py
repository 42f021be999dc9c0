"""Arrow helpers for history segment files: their schema, row groups of a set size, and which
row groups can hold rows valid on a day (from the files' own statistics)."""

import contextlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lbh_platform.common.errors import DataError
from lbh_platform.history.columns import (
    DROPPED,
    SEGMENT,
    STORED,
    VALID_FROM,
    VALID_TO,
    history_fields,
)
from lbh_platform.storage.partitioned_table import DATA_FILE, PartitionedTable, PartitionWriter

# Values per row group (rows x columns), as the streamed snapshot writes: "as of D" reads
# whole row groups, and much smaller ones cost more to read than they save (at 750 columns a
# row group of 2,000 rows reads at a third of the speed of one of 10,000).
ROW_GROUP_VALUES = 8_000_000
MIN_GROUP_ROWS = 1024

# Sorted segments start a row group where valid_from enters a new band of this many days.
BAND_DAYS = 182
MIN_BAND_ROWS = 1024

T = TypeVar("T")


def group_rows(columns: int) -> int:
    return max(MIN_GROUP_ROWS, ROW_GROUP_VALUES // max(1, columns))


def history_schema(schemas: Sequence[pa.Schema], what: str) -> pa.Schema:
    """The union of ``schemas``' record columns (``snapshot_*`` dropped), then the history's."""
    try:
        merged = pa.unify_schemas(
            [s.remove_metadata() for s in schemas], promote_options="permissive"
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"{what}: column types differ between the inputs: {exc}") from exc
    drop = {*DROPPED, *STORED, SEGMENT}
    fields = [f for f in merged if f.name not in drop]
    stored = [merged.field(n) for n in STORED if n in merged.names]
    if len(stored) != len(STORED):
        stored = history_fields()
    return pa.schema([*fields, *stored])


# (segment file, when it was written) -> its schema: a published file never changes, and a
# large segment's footer (every row group's column chunks) is worth parsing once a process.
_schemas: dict[tuple[str, float], pa.Schema] = {}


def schema_of(history: PartitionedTable, name: str) -> pa.Schema:
    """Segment ``name``'s schema."""
    path = f"{history.partition_dir(name)}/{DATA_FILE}"
    key = (path, history.fs.get_file_info(path).mtime_ns or 0)
    if key not in _schemas:
        with history.fs.open_input_file(path) as source:
            _schemas[key] = pq.read_schema(source)
    return _schemas[key]


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns in order and type; absent ones null."""
    if table.schema.equals(schema, check_metadata=False):
        return table
    columns = []
    for field in schema:
        index = table.schema.get_field_index(field.name)
        if index < 0:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(index)
        columns.append(column if column.type == field.type else column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)


class Groups:
    """Rows for one segment, written in row groups of ``rows`` (the last may be smaller).

    With ``band_days``, rows coming in ``valid_from`` order also start a new row group where
    ``valid_from`` enters a new band of that many days (once the group has ``min_rows``): a
    reader "as of D" then reads, past D, at most the rest of D's band, not the rest of a row
    group that may reach years past it (where a segment holds few old versions).
    """

    def __init__(
        self,
        sink: "PartitionWriter | _Behind",
        rows: int,
        band_days: int | None = None,
        min_rows: int = MIN_BAND_ROWS,
    ):
        self.sink = sink
        self.rows = rows
        self.band_days = band_days
        self.min_rows = min_rows
        self.band: int | None = None
        self.pending: list[pa.Table] = []
        self.count = 0
        self.written = 0

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self.band_days is None:
            self._add(table)
            return
        days = pc.cast(table[VALID_FROM], pa.int32()).to_numpy(zero_copy_only=False)
        bands = days // self.band_days
        edges = np.flatnonzero(np.diff(bands)) + 1
        for start, stop in zip([0, *edges], [*edges, len(bands)], strict=True):
            band = int(bands[start])
            if self.band is not None and band != self.band and self.count >= self.min_rows:
                self._write_pending()
            self.band = band
            self._add(table.slice(start, stop - start))

    def _add(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.count += table.num_rows
        if self.count >= self.rows:
            whole = pa.concat_tables(self.pending)
            full = (self.count // self.rows) * self.rows
            for start in range(0, full, self.rows):
                self.sink.write(whole.slice(start, self.rows))
            rest = whole.slice(full)
            self.pending = [rest] if rest.num_rows else []
            self.count = rest.num_rows
            self.written += full

    def _write_pending(self) -> None:
        if self.pending:
            self.sink.write(pa.concat_tables(self.pending))
            self.written += self.count
        self.pending, self.count = [], 0

    def close(self) -> None:
        self._write_pending()


class InOrder:
    """Work run in order on a thread of its own, so that encoding row groups overlaps reading
    and arranging the next ones (Arrow releases the GIL for both). At most ``backlog`` items
    wait, as each holds its rows. Leaving the block waits for all of them and raises the
    first error; after an error, waiting items are dropped and the running one finishes.
    Enter it after the sinks it writes to, so that it is left first."""

    def __init__(self, name: str, backlog: int = 2):
        self.backlog = backlog
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._pending: deque[Future[None]] = deque()

    def submit(self, work: Callable[..., None], *args: object) -> None:
        while len(self._pending) >= self.backlog:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(work, *args))

    def sink(self, sink: PartitionWriter) -> "_Behind":
        """``sink`` with its writes made on this thread (for :class:`Groups`)."""
        return _Behind(self, sink)

    def __enter__(self) -> "InOrder":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                while self._pending:
                    self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


class _Behind:
    def __init__(self, thread: InOrder, sink: PartitionWriter):
        self._thread = thread
        self._sink = sink

    def write(self, table: pa.Table) -> None:
        self._thread.submit(self._sink.write, table)


def leaf_index(parquet: pq.ParquetFile, name: str) -> int | None:
    schema = parquet.metadata.schema
    for index in range(len(schema)):
        if schema.column(index).path == name:
            return index
    return None


def row_groups_for(parquet: pq.ParquetFile, valid_on: object, closed: bool) -> list[int]:
    """Row groups that may hold a row valid on ``valid_on`` (a date): some ``valid_from`` on
    or before it and, in a closed segment, some ``valid_to`` after it."""
    start = leaf_index(parquet, VALID_FROM)
    end = leaf_index(parquet, VALID_TO)
    chosen = []
    for index in range(parquet.metadata.num_row_groups):
        group = parquet.metadata.row_group(index)
        if group.num_rows == 0:
            continue
        if start is not None:
            stats = group.column(start).statistics
            if stats is not None and stats.has_min_max and stats.min > valid_on:
                continue
        if closed and end is not None:
            stats = group.column(end).statistics
            if stats is not None and stats.has_min_max and stats.max <= valid_on:
                continue
        chosen.append(index)
    return chosen


def prefetched(
    items: Sequence[T], read: Callable[[T], pa.Table], ahead: int = 1
) -> Iterator[pa.Table]:
    """``read(item)`` for each item in order, up to ``ahead`` of them read in threads while
    the caller works on the last."""
    if not items:
        return
    with ThreadPoolExecutor(ahead, thread_name_prefix="history-read") as pool:
        pending = [pool.submit(read, item) for item in items[:ahead]]
        for index in range(len(items)):
            table = pending.pop(0).result()
            if index + ahead < len(items):
                pending.append(pool.submit(read, items[index + ahead]))
            yield table


@contextlib.contextmanager
def opened(
    fs: pafs.FileSystem, path: str, metadata: pq.FileMetaData | None = None
) -> Iterator[pq.ParquetFile]:
    """A parquet file of ``fs``; with ``metadata`` its footer is not parsed again."""
    with fs.open_input_file(path) as source:
        yield pq.ParquetFile(source, metadata=metadata)
