"""A history's row rules on narrow Arrow columns (id, valid_from, valid_to, is_deleted).

- :func:`resolve`: every row's exact ``valid_to`` and ``is_deleted``. A row stored open
  (``valid_to`` null) ends where the next row of its id begins; if that row is a tombstone the
  version ended by deletion. Tombstones and second copies of a version (a rewrite caught
  half-way) are not versions and are marked to drop. What compactions, rebuilds and the exact
  view use.
- :func:`newest`: "as of D" over rows already filtered to ``valid_from <= D`` and ``valid_to``
  null or after D: the newest row of each id, unless that row is a tombstone.

Pure Arrow and numpy; the Spark engine implements the same rules with window functions.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lbh_platform.history.columns import DATE


@dataclass(frozen=True)
class Resolved:
    """Per input row (input order): ``keep`` (a version, first copy), its exact ``valid_to``
    (null: current) and ``is_deleted``."""

    keep: np.ndarray
    valid_to: pa.Array
    is_deleted: np.ndarray


def _days(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Dates as int32 days; nulls as -1 (callers mask them)."""
    days = pc.cast(values, pa.int32())
    return pc.fill_null(days, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _array(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _same_as_previous(ids_sorted: pa.Array) -> np.ndarray:
    n = len(ids_sorted)
    out = np.zeros(n, dtype=bool)
    if n > 1:
        equal = pc.equal(ids_sorted.slice(1), ids_sorted.slice(0, n - 1))
        out[1:] = pc.fill_null(equal, False).to_numpy(zero_copy_only=False)
    return out


def resolve(ids, valid_from, valid_to, is_deleted) -> Resolved:  # noqa: ANN001 - Arrow columns
    """See the module docstring; ids must not be null."""
    n = len(ids)
    table = pa.table({"id": _array(ids), "f": _array(valid_from), "t": _array(valid_to).cast(DATE)})
    order = pc.sort_indices(
        table,
        sort_keys=[
            ("id", "ascending", "at_end"),
            ("f", "ascending", "at_end"),
            ("t", "ascending", "at_end"),
        ],  # fmt: skip
    ).to_numpy()
    ids_sorted = pc.take(table["id"], pa.array(order)).combine_chunks()
    f = _days(table["f"])[order]
    t_valid = pc.is_valid(table["t"]).to_numpy(zero_copy_only=False)[order]
    t = _days(table["t"])[order]
    deleted = pc.fill_null(_array(is_deleted), False).to_numpy(zero_copy_only=False)[order]
    same_prev = _same_as_previous(ids_sorted)
    second_copy = np.zeros(n, dtype=bool)
    if n > 1:
        second_copy[1:] = same_prev[1:] & (f[1:] == f[:-1])
    rows = np.flatnonzero(~second_copy)  # sorted positions of first copies
    f_k, t_k, valid_k, del_k = f[rows], t[rows], t_valid[rows], deleted[rows]
    same_next = np.zeros(len(rows), dtype=bool)
    if len(rows) > 1:
        same_next[:-1] = same_prev[rows[1:]]
    tomb = del_k & ~valid_k
    next_f = np.full(len(rows), -1, dtype=np.int64)
    next_tomb = np.zeros(len(rows), dtype=bool)
    next_f[:-1] = np.where(same_next[:-1], f_k[1:], -1) if len(rows) > 1 else next_f[:-1]
    next_tomb[:-1] = (same_next[:-1] & tomb[1:]) if len(rows) > 1 else next_tomb[:-1]
    exact_t = np.where(valid_k, t_k, next_f)
    exact_deleted = np.where(valid_k, del_k, next_tomb)
    keep_sorted = np.zeros(n, dtype=bool)
    keep_sorted[rows] = ~tomb
    to_sorted = np.full(n, -1, dtype=np.int64)
    to_sorted[rows] = exact_t
    deleted_sorted = np.zeros(n, dtype=bool)
    deleted_sorted[rows] = exact_deleted
    keep = np.empty(n, dtype=bool)
    keep[order] = keep_sorted
    to = np.empty(n, dtype=np.int64)
    to[order] = to_sorted
    gone = np.empty(n, dtype=bool)
    gone[order] = deleted_sorted
    valid_to_out = pa.array(to.astype(np.int32), pa.int32(), mask=to < 0).cast(DATE)
    return Resolved(keep, valid_to_out, gone & keep)


def newest(ids, valid_from, valid_to, is_deleted) -> np.ndarray:  # noqa: ANN001 - Arrow columns
    """Keep mask (input order): the newest row of each id, unless it is a tombstone."""
    n = len(ids)
    tomb = pc.fill_null(_array(is_deleted), False).to_numpy(zero_copy_only=False) & ~pc.is_valid(
        _array(valid_to)
    ).to_numpy(zero_copy_only=False)
    ids = _array(ids)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if pc.count_distinct(ids).as_py() == n:  # no id twice: every row is its id's newest
        return ~tomb
    table = pa.table({"id": ids, "f": _array(valid_from), "t": _array(valid_to).cast(DATE)})
    order = pc.sort_indices(
        table,
        sort_keys=[
            ("id", "ascending", "at_end"),
            ("f", "descending", "at_end"),
            ("t", "ascending", "at_end"),
        ],  # fmt: skip
    ).to_numpy()
    first = ~_same_as_previous(_array(pc.take(ids, pa.array(order))))
    keep = np.zeros(n, dtype=bool)
    keep[order[first]] = True
    return keep & ~tomb
