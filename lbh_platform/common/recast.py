"""String columns cast to the types of a column-type dictionary (``integer``, ``long``,
``float``, ``double``, ``boolean``, ``timestamp``, ``date``); values that cannot be cast become
null and are counted per column.

The cast rules (the regexes and texts below) are shared with the Spark engine, so both give
identical results. No Dagster, no I/O.
"""

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

_ARROW_TYPES: dict[str, pa.DataType] = {
    "integer": pa.int32(),
    "long": pa.int64(),
    "float": pa.float64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
}
# The cast rules, shared with the Spark engine so both give identical results.
TRUE_TEXTS = ["t", "true", "y", "yes", "1"]
FALSE_TEXTS = ["f", "false", "n", "no", "0"]
NULL_DATES = ["0000-00-00", "0000-00-00 00:00:00"]
INT_RE = r"^[+-]?[0-9]{1,19}$"
FLOAT_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
# YYYY-MM-DD, optionally followed by a time (space or T separated, fractions ignored).
TEMPORAL_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?)?$"
INT32_RANGE = (-(2**31), 2**31 - 1)
INT64_MAX_DIGITS, INT64_MIN_DIGITS = "9223372036854775807", "9223372036854775808"
_BOOLEAN_TEXTS = pa.array(TRUE_TEXTS + FALSE_TEXTS)


def arrow_type(column_type: str) -> pa.DataType:
    return _ARROW_TYPES[column_type]


@dataclass(frozen=True)
class RecastResult:
    table: pa.Table
    cast_failures: dict[str, int] = field(default_factory=dict)
    missing_columns: list[str] = field(default_factory=list)

    @property
    def total_cast_failures(self) -> int:
        return sum(self.cast_failures.values())


def _null_string() -> pa.Scalar:
    return pa.scalar(None, pa.string())


def _cast_strings(values: pa.Array, column_type: str) -> tuple[pa.Array, pa.Array]:
    """Cast one string column. Returns the cast values and which inputs count as null
    (missing, blank, or an all-zero date) rather than as cast failures.

    Blank texts match none of the number or boolean patterns, so those casts leave them null
    without blanking them first.
    """
    trimmed = pc.utf8_trim_whitespace(values)
    nullish = pc.fill_null(pc.equal(trimmed, ""), True)
    if column_type in ("integer", "long"):
        valid = pc.match_substring_regex(trimmed, INT_RE)
        if pc.any(pc.greater_equal(pc.utf8_length(trimmed), 19)).as_py():  # 19 digits or more
            # Only valid texts are used below, so stripping their one sign needs no regex.
            digits = pc.utf8_ltrim(trimmed, characters="+-")
            negative = pc.starts_with(trimmed, "-")
            limit = pc.if_else(negative, pa.scalar(INT64_MIN_DIGITS), pa.scalar(INT64_MAX_DIGITS))
            overflow = pc.and_(pc.equal(pc.utf8_length(digits), 19), pc.greater(digits, limit))
            valid = pc.and_(valid, pc.invert(pc.fill_null(overflow, False)))
        unsigned = pc.utf8_ltrim(trimmed, characters="+")
        wide = pc.cast(pc.if_else(valid, unsigned, _null_string()), pa.int64())
        if column_type == "integer":
            lo, hi = INT32_RANGE
            in_range = pc.and_(pc.greater_equal(wide, lo), pc.less_equal(wide, hi))
            wide = pc.if_else(in_range, wide, pa.scalar(None, pa.int64()))
        return wide.cast(_ARROW_TYPES[column_type]), nullish
    if column_type in ("float", "double"):
        valid = pc.match_substring_regex(trimmed, FLOAT_RE)
        return pc.cast(pc.if_else(valid, trimmed, _null_string()), pa.float64()), nullish
    if column_type == "boolean":
        # One lookup in TRUE_TEXTS + FALSE_TEXTS: a position in the first part means true.
        # (No character outside ASCII lower-cases to a letter of these texts, so the ASCII
        # lowering matches exactly what the Unicode one would.)
        position = pc.index_in(pc.ascii_lower(trimmed), value_set=_BOOLEAN_TEXTS)
        return pc.less(position, len(TRUE_TEXTS)), nullish
    if column_type in ("timestamp", "date"):
        nullish = pc.or_(
            nullish, pc.fill_null(pc.is_in(trimmed, value_set=pa.array(NULL_DATES)), False)
        )
        trimmed = pc.if_else(nullish, _null_string(), trimmed)
        candidates = pc.if_else(
            pc.match_substring_regex(trimmed, TEMPORAL_RE), trimmed, _null_string()
        )
        day = pc.utf8_slice_codeunits(candidates, 0, 10)
        parsed_day = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls impossible dates over (2024-02-30 -> 2024-03-01); they are failures.
        # (Formatting by a cast to date then string equals strftime's, ten times faster.)
        real_day = pc.equal(parsed_day.cast(pa.date32()).cast(pa.string()), day)
        if column_type == "date":
            return pc.if_else(real_day, parsed_day, pa.scalar(None, parsed_day.type)).cast(
                pa.date32()
            ), nullish
        candidates = pc.if_else(real_day, candidates, _null_string())
        # "YYYY-MM-DD[ T]HH:MM:SS[.f]" or "YYYY-MM-DD" -> "YYYY-MM-DD HH:MM:SS" (midnight
        # for a bare date, fractions ignored).
        padded = pc.binary_join_element_wise(candidates, " 00:00:00", "")
        moment = pc.utf8_slice_codeunits(pc.utf8_replace_slice(padded, 10, 11, " "), 0, 19)
        cast = pc.strptime(moment, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
        return cast, nullish
    raise ValueError(f"unknown column type {column_type!r}")


def _recast_column(column: pa.ChunkedArray, column_type: str) -> tuple[pa.ChunkedArray, int]:
    """One catalogue column cast, and how many of its values could not be cast."""
    source = column if pa.types.is_string(column.type) else column.cast(pa.string())
    cast, nullish = _cast_strings(source, column_type)
    lost = pc.and_(pc.invert(nullish), pc.is_null(cast))
    return cast, pc.sum(lost).as_py() or 0


def keys_lost_in_cast(texts: pa.Array | pa.ChunkedArray, column_type: str) -> list[str]:
    """The distinct key texts that a cast to ``column_type`` would not keep exactly, sorted.

    A key must survive the cast as itself: ``"01"``, ``" 1"``, ``"+1"`` and ``"1e0"`` all
    cast to 1 and would merge with ``"1"``; ``"abc"``, ``"１"`` or a number out of range cast
    to null and would vanish. A text survives when the cast value written back as text is the
    text itself (Arrow writes numbers in their one canonical form).
    """
    source = texts if pa.types.is_string(texts.type) else texts.cast(pa.string())
    if len(source) == 0 or column_type not in _ARROW_TYPES:
        return []
    cast, _ = _cast_strings(source, column_type)
    back = pc.cast(cast, pa.string())
    kept = pc.fill_null(pc.equal(back, source), False)
    lost = pc.filter(source, pc.and_(pc.invert(kept), pc.is_valid(source)))
    return sorted(pc.unique(lost).to_pylist())


# Below this many values the columns are cast one after another (threads would cost more).
PARALLEL_RECAST_VALUES = 200_000


def recast(table: pa.Table, column_types: Mapping[str, str]) -> RecastResult:
    """Cast catalogue columns; count (never hide) values that could not be cast.

    A value that cannot be cast becomes null and is counted per column. A catalogue column
    missing from the data is reported, not fatal. Blank strings and all-zero dates are
    treated as null, not as failures. Columns are cast in parallel threads (Arrow's kernels
    release the interpreter lock); the result does not depend on it.
    """
    missing = [c for c in column_types if c not in table.column_names]
    if table.num_rows == 0:
        missing = []
    arrays: list[pa.Array | pa.ChunkedArray] = list(table.columns)
    work = [
        (i, column_types[name])
        for i, (name, column) in enumerate(zip(table.column_names, table.columns, strict=True))
        if name in column_types
        and (pa.types.is_string(column.type) or pa.types.is_null(column.type))
    ]
    threads = min(pa.cpu_count(), os.cpu_count() or 1, len(work))
    if threads > 1 and table.num_rows * len(work) >= PARALLEL_RECAST_VALUES:
        with ThreadPoolExecutor(threads, thread_name_prefix="recast") as pool:
            done = list(pool.map(lambda item: _recast_column(table.column(item[0]), item[1]), work))
    else:
        done = [_recast_column(table.column(i), kind) for i, kind in work]
    failures: dict[str, int] = {}
    for (i, _), (cast, count) in zip(work, done, strict=True):
        arrays[i] = cast
        if count:
            failures[table.column_names[i]] = count
    return RecastResult(
        pa.table(dict(zip(table.column_names, arrays, strict=True))), failures, missing
    )
