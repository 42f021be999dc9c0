"""A history rebuilt from its increments in one pass over their rows (Arrow).

First the narrow pass: every increment's id and tie-break columns (``last_updated``,
``page_number``; ``import_date`` is the partition), deduplicated per batch by the snapshot's
own rule (:func:`lbh_platform.common.rows.dedupe_latest`), give each version's place and,
resolved across batches, its ``valid_to``; the closed versions are cut into segments by
``valid_to``. Then every increment is read once, whole (its footer not parsed again), two at
a time ahead of the routing (a small file's read is mostly fixed costs). Batches come in
``valid_from`` order; about a row group of them at a time is taken once, grouped by segment
(then by ``valid_from`` and ``valid_to``), and each segment gets one contiguous slice, so its
row groups are few chunks and every segment comes out sorted. Row groups are encoded on a
writer thread while the next increments are read and arranged. The base is published last,
and commits.
"""

import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lbh_platform.common import rows
from lbh_platform.common.errors import DataError
from lbh_platform.history import segments
from lbh_platform.history.arrow_files import (
    BAND_DAYS,
    Groups,
    InOrder,
    conform,
    group_rows,
    history_schema,
    opened,
    prefetched,
)
from lbh_platform.history.batches import Batch
from lbh_platform.history.columns import DATE, STORED, VALID_FROM, day
from lbh_platform.history.engine import Rebuilt
from lbh_platform.history.exact import resolve
from lbh_platform.storage.partitioned_table import DATA_FILE, PartitionedTable

log = logging.getLogger(__name__)
TIE_BREAKS = ("last_updated", "page_number")
FILE = "__file"
POSITION = "__position"
TOMBSTONE = "__tombstone"
SCANNERS = 2  # footers and narrow columns read two files at a time
READERS = 2  # whole increments read two at a time, ahead of the routing


@dataclass(frozen=True)
class Source:
    """One increment partition: where it is, its footer, and the batch it belongs to."""

    value: str
    path: str
    metadata: pq.FileMetaData
    schema: pa.Schema
    batch: int


def _scan(
    increments: PartitionedTable, value: str, batch: int, index: int, id_column: str
) -> tuple[Source, pa.Table]:
    """Increment ``value``'s footer and its narrow columns (id and the tie-breaks), in one
    open of the file."""
    path = f"{increments.partition_dir(value)}/{DATA_FILE}"
    with opened(increments.fs, path) as parquet:
        schema = parquet.schema_arrow.append(pa.field(increments.partition_column, pa.string()))
        names = [n for n in (id_column, *TIE_BREAKS) if n in schema.names]
        table = parquet.read(columns=names)
        source = Source(value, path, parquet.metadata, schema, batch)
    n = table.num_rows
    narrow = (
        table.append_column(increments.partition_column, pa.array([value] * n, pa.string()))
        .append_column(FILE, pa.array(np.full(n, index, dtype=np.int32)))
        .append_column(POSITION, pa.array(np.arange(n, dtype=np.int64)))
    )
    return source, narrow


def _versions(
    increments: PartitionedTable,
    narrows: list[list[pa.Table]],
    batches: list[Batch],
    id_column: str,
    deleted: dict[str, pa.Array],
) -> tuple[pa.Table, int]:
    """Narrow versions (id, valid_from, file, position; tombstones at file -1) of every
    batch (``narrows``: its increments' narrow columns), and how many rows had no id."""
    out: list[pa.Table] = []
    without = 0
    for number, batch in enumerate(batches):
        what = f"{increments.display} batch {batch.valid_from}"
        narrow = rows.unify(narrows[number], what)
        when = day(batch.valid_from)
        if narrow.num_rows:
            latest, missing = rows.dedupe_latest(narrow, id_column)
            without += missing
            n = latest.num_rows
            out.append(
                pa.table(
                    {
                        id_column: latest[id_column],
                        VALID_FROM: pa.array([when] * n, DATE),
                        FILE: latest[FILE],
                        POSITION: latest[POSITION],
                        TOMBSTONE: pa.array(np.zeros(n, dtype=bool)),
                    }
                )
            )
        gone = deleted.get(batch.valid_from)
        if gone is not None and len(gone):
            ids = pc.unique(gone.drop_null())
            if narrow.num_rows:
                ids = ids.cast(narrow.schema.field(id_column).type)
                both = pc.is_in(ids, value_set=out[-1][id_column].combine_chunks())
                if pc.any(both).as_py():
                    raise DataError(
                        f"{what}: ids both changed and deleted, e.g. "
                        f"{ids.filter(both)[:5].to_pylist()}"
                    )
            n = len(ids)
            out.append(
                pa.table(
                    {
                        id_column: ids,
                        VALID_FROM: pa.array([when] * n, DATE),
                        FILE: pa.array(np.full(n, -1, dtype=np.int32)),
                        POSITION: pa.array(np.full(n, -1, dtype=np.int64)),
                        TOMBSTONE: pa.array(np.ones(n, dtype=bool)),
                    }
                )
            )
    if not out:
        return pa.table({}), without
    return rows.unify(out, increments.display), without


def rebuild(
    history: PartitionedTable,
    increments: PartitionedTable,
    batches: list[Batch],
    id_column: str,
    deleted: dict[str, pa.Array],
    operation: str,
    closed_share: float,
    base_notes: dict[str, str],
) -> Rebuilt:
    started = time.perf_counter()
    wanted = [(v, number) for number, b in enumerate(batches) for v in b.imports]
    with ThreadPoolExecutor(SCANNERS, thread_name_prefix="history-scan") as pool:
        scanned = list(
            pool.map(lambda i: _scan(increments, *wanted[i], i, id_column), range(len(wanted)))
        )
    sources = [source for source, _ in scanned]
    narrows: list[list[pa.Table]] = [[] for _ in batches]
    for source, narrow in scanned:
        narrows[source.batch].append(narrow)
    del scanned
    versions, without_id = _versions(increments, narrows, batches, id_column, deleted)
    log.info(
        "%s: %d increments scanned, %d versions found in %.1fs",
        history.display, len(sources), versions.num_rows, time.perf_counter() - started,
    )  # fmt: skip
    if versions.num_rows == 0:
        raise DataError(f"{history.display}: no versions to rebuild from ({len(batches)} batches)")
    resolved = resolve(
        versions[id_column],
        versions[VALID_FROM],
        pa.nulls(versions.num_rows, DATE),
        versions[TOMBSTONE],
    )
    kept = pa.array(resolved.keep)
    versions = versions.filter(kept)
    n = versions.num_rows
    ends = resolved.valid_to.filter(kept)
    gone_flags = resolved.is_deleted[resolved.keep]
    ended = pc.is_valid(ends).to_numpy(zero_copy_only=False)
    current = int((~ended).sum())
    schema = history_schema([s.schema for s in sources], history.display)
    rows_per_group = group_rows(len(schema))
    end_days = pc.cast(ends.filter(pa.array(ended)), pa.int32()).to_numpy()
    counts = dict(zip(*np.unique(end_days, return_counts=True), strict=True))
    by_day = {_value_of_days(k): int(v) for k, v in counts.items()}
    cuts = segments.closed_cuts(by_day, max(int(closed_share * current), rows_per_group))
    untils = np.array([_days_of(until) for _, until in cuts], dtype=np.int64)
    target = np.full(n, -1, dtype=np.int64)  # -1: the base
    if len(cuts):
        all_days = pc.fill_null(pc.cast(ends, pa.int32()), -1).to_numpy().astype(np.int64)
        target[ended] = np.searchsorted(untils, all_days[ended], side="left")
    end_order = pc.fill_null(pc.cast(ends, pa.int32()), np.iinfo(np.int32).max).to_numpy()
    start_order = pc.cast(versions[VALID_FROM], pa.int32()).to_numpy()
    files = versions[FILE].to_numpy()
    positions = versions[POSITION].to_numpy()
    written = []
    increment_rows = 0
    sequence = int(base_notes[segments.SEQUENCE])
    with contextlib.ExitStack() as stack:
        base_sink = stack.enter_context(
            history.stream(_base(batches, operation), schema, base_notes)
        )
        sinks = {-1: base_sink}
        for index, (after, until) in enumerate(cuts):
            name = segments.closed_name(after, until, operation)
            notes = {
                **segments.notes_for("closed", operation, sequence, id_column),
                segments.CLOSED_AFTER: after,
                segments.CLOSED_UNTIL: until,
            }
            sinks[index] = stack.enter_context(history.stream(name, schema, notes))
        writing = stack.enter_context(InOrder("history-write"))  # left before the sinks
        outputs = {
            key: Groups(writing.sink(sink), rows_per_group, BAND_DAYS)
            for key, sink in sinks.items()
        }
        record = pa.schema([field for field in schema if field.name not in STORED])
        added = [increments.partition_column, *STORED]
        order = np.argsort(files, kind="stable")
        starts = np.searchsorted(files[order], np.arange(len(sources) + 1))

        def read(index: int) -> pa.Table:
            source = sources[index]
            with opened(increments.fs, source.path, source.metadata) as parquet:
                return parquet.read()

        window: list[pa.Table] = []
        keys: list[np.ndarray] = []

        def route() -> None:
            """The window's rows (whole files, about a row group) to their segments: one
            take, grouped by segment, then by valid_from, then by valid_to (so "as of D"
            keeps runs), then in file order; a contiguous slice per segment."""
            if not window:
                return
            chosen = np.concatenate(keys)
            rows = pa.concat_tables(window)
            arrange = np.lexsort((end_order[chosen], start_order[chosen], target[chosen]))
            taken = rows.take(pa.array(arrange))
            goes = target[chosen][arrange]
            edges = np.flatnonzero(np.diff(goes)) + 1
            for first, stop in zip([0, *edges], [*edges, len(goes)], strict=True):
                outputs[int(goes[first])].add(taken.slice(first, stop - first))
            window.clear()
            keys.clear()

        held = 0
        for index, table in enumerate(prefetched(list(range(len(sources))), read, READERS)):
            increment_rows += table.num_rows
            mine = order[starts[index] : starts[index + 1]]
            if not len(mine):
                continue
            mine = mine[np.argsort(positions[mine], kind="stable")]
            rows_at = positions[mine]
            identity = len(rows_at) == table.num_rows  # every row kept, in file order
            taken = table if identity else table.take(pa.array(rows_at))
            source = sources[index]
            count = len(mine)
            columns = [
                *taken.columns,
                pa.repeat(pa.scalar(source.value), count),
                pa.repeat(pa.scalar(day(batches[source.batch].valid_from), DATE), count),
                ends.take(pa.array(mine)),
                pa.array(gone_flags[mine]),
            ]
            if source.schema.equals(record, check_metadata=False):  # no schema built at all
                window.append(pa.Table.from_arrays(columns, schema=schema))
            else:
                names = [*taken.column_names, *added]
                window.append(conform(pa.Table.from_arrays(columns, names=names), schema))
            keys.append(mine)
            held += count
            if held >= rows_per_group:
                route()
                held = 0
        route()
        for groups in outputs.values():
            groups.close()
    written = [s.result for s in reversed(sinks.values()) if s.result is not None]
    log.info(
        "%s: rebuilt %d segments (%d versions, %d current) in %.1fs",
        history.display, len(written), n, current, time.perf_counter() - started,
    )  # fmt: skip
    return Rebuilt(written, increment_rows, n, current, without_id)


def _base(batches: list[Batch], operation: str) -> str:
    return segments.base_name(batches[-1].valid_from, operation)


_EPOCH = np.datetime64("1970-01-01", "D")


def _value_of_days(days: int) -> str:
    return str(_EPOCH + np.timedelta64(int(days), "D")).replace("-", "")


def _days_of(value: str) -> int:
    if value == "00000000":
        return -1
    moment = np.datetime64(f"{value[:4]}-{value[4:6]}-{value[6:]}", "D")
    return int((moment - _EPOCH).astype(np.int64))
