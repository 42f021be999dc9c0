""" "As of D" on the Arrow engine: only the row groups whose statistics can hold a row valid on
D are read (segments are sorted by ``valid_from``, closed ones bounded by ``valid_to``), the
segments two at a time; the rules run on the narrow columns, and a row group loses its
invalid or superseded rows as zero-copy slices of the runs it keeps when they are few (a
filter copies every value of every column), by one filter otherwise. Closed segments are
sorted by ``valid_from`` then ``valid_to``, so the versions of one start that ended by the
day are one run."""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.common import rows
from lbh_platform.history.arrow_files import row_groups_for
from lbh_platform.history.columns import (
    DATE,
    IS_DELETED,
    SEGMENT,
    STORED,
    VALID_FROM,
    VALID_TO,
    day,
)
from lbh_platform.history.exact import newest
from lbh_platform.storage.partitioned_table import PartitionedTable

READERS = 2
MAX_RUNS = 64  # kept runs of one row group taken as slices; more: one filter


@dataclass
class _Piece:
    """One row group read, and which of its rows are valid on the day (None: all)."""

    table: pa.Table
    valid: np.ndarray | None

    @property
    def candidates(self) -> int:
        return self.table.num_rows if self.valid is None else int(self.valid.sum())


def _read(history: PartitionedTable, name: str, when: date) -> list[_Piece]:
    closed = name.startswith("closed-")
    with history.open_parquet(name) as parquet:
        chosen = row_groups_for(parquet, when, closed)
        if not chosen:
            return []
        sizes = [parquet.metadata.row_group(i).num_rows for i in chosen]
        table = parquet.read_row_groups(chosen, use_threads=True)
    valid = pc.less_equal(table[VALID_FROM], pa.scalar(when, DATE))
    if closed:
        valid = pc.and_(valid, pc.greater(table[VALID_TO], pa.scalar(when, DATE)))
    mask = pc.fill_null(valid, False).to_numpy(zero_copy_only=False)
    pieces = []
    offset = 0
    for size in sizes:  # one piece per row group: each keeps its own runs
        part = mask[offset : offset + size]
        if part.any():
            pieces.append(_Piece(table.slice(offset, size), None if part.all() else part))
        offset += size
    return pieces


def _kept(table: pa.Table, keep: np.ndarray) -> pa.Table:
    """The rows of ``table`` where ``keep``: slices of its kept runs, or one filter."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], keep, [False])).astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    if len(starts) > MAX_RUNS:
        return table.filter(pa.array(keep))
    return pa.concat_tables([table.slice(a, b - a) for a, b in zip(starts, ends, strict=True)])


def as_of(
    history: PartitionedTable, segments: Sequence[str], id_column: str, valid_on: str
) -> pa.Table:
    when = day(valid_on)
    with ThreadPoolExecutor(READERS, thread_name_prefix="history-as-of") as pool:
        found = list(pool.map(lambda name: _read(history, name, when), segments))
    pieces = [p for group in found for p in group]
    if not pieces:
        return pa.table({})
    narrow = []
    for piece in pieces:
        columns = piece.table.select([id_column, VALID_FROM, VALID_TO, IS_DELETED])
        narrow.append(columns if piece.valid is None else columns.filter(pa.array(piece.valid)))
    candidates = rows.unify(narrow, history.display)
    winners = newest(
        candidates[id_column], candidates[VALID_FROM], candidates[VALID_TO], candidates[IS_DELETED]
    )
    kept: list[pa.Table] = []
    offset = 0
    for piece in pieces:
        mine = winners[offset : offset + piece.candidates]
        offset += piece.candidates
        if piece.valid is None:
            keep = mine
        else:
            keep = piece.valid.copy()
            keep[piece.valid] = mine
        if keep.all():
            kept.append(piece.table)
        elif keep.any():
            kept.append(_kept(piece.table, keep))
    result = rows.unify(kept, history.display) if kept else pieces[0].table.slice(0, 0)
    return result.drop_columns([c for c in (*STORED, SEGMENT) if c in result.column_names])
