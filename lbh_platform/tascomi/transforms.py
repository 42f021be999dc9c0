"""Tascomi transforms on Arrow tables: raw rows, parse and recast (the shared dedupe and
upsert are in :mod:`lbh_platform.common.rows`).

These are the single-machine engine's implementations. They hold no Dagster and no I/O, so
they are unit-tested directly and the asset factories stay thin.
"""

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from lbh_platform.common.errors import DataError
from lbh_platform.common.import_columns import import_columns
from lbh_platform.common.rows import LAST_UPDATED

IMPORT_COLUMNS: tuple[str, ...] = (
    "page_number",
    "import_api_url_requested",
    "import_api_status_code",
    "import_exception_thrown",
    "import_datetime",
    "import_timestamp",
    "import_year",
    "import_month",
    "import_day",
    "import_date",
)


# --------------------------------------------------------------------------- raw rows


class PageLike(Protocol):
    """One API page as the raw stage records it (the client's ``Page`` fits)."""

    number: int
    url: str
    status: int
    records: Sequence[Mapping[str, object]]


def raw_response_table(
    resource: str,
    pages: Iterable[PageLike],
    import_date: date,
    imported_at: datetime | None = None,
) -> tuple[pa.Table, int]:
    """One row per record: its JSON text plus the original's import metadata columns.

    Records last updated after ``import_date`` are left out (the next partition takes them;
    only a re-run of a past day sees any). Returns the table and how many were left out.
    """
    imported_at = imported_at or datetime.now(UTC)
    texts: list[str] = []
    page_numbers: list[int] = []
    urls: list[str] = []
    statuses: list[int] = []
    held_back = 0
    cutoff = import_date.isoformat()
    for page in pages:
        for record in page.records:
            updated = record.get(LAST_UPDATED)
            if isinstance(updated, str) and updated[:10] > cutoff:
                held_back += 1
                continue
            texts.append(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
            page_numbers.append(page.number)
            urls.append(page.url)
            statuses.append(page.status)
    n = len(texts)
    columns = {
        resource: pa.array(texts, pa.string()),
        "page_number": pa.array(page_numbers, pa.int32()),
        "import_api_url_requested": pa.array(urls, pa.string()),
        "import_api_status_code": pa.array(statuses, pa.int32()),
        "import_exception_thrown": pa.nulls(n, pa.string()),
        **import_columns(n, import_date, imported_at),
    }
    return pa.table(columns), held_back


# --------------------------------------------------------------------------- parse


@dataclass(frozen=True)
class ParseResult:
    table: pa.Table
    rows_in: int
    non_200_rows: int
    exact_duplicates_dropped: int


def _python_string_columns(texts: list[str], only: set[str] | None = None) -> dict[str, pa.Array]:
    """The reference implementation: ``json.loads`` per record (nested values as JSON text)."""
    records = [json.loads(t) for t in texts]
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(k for k in record if only is None or k in only))
    columns = {}
    for name in names:
        values = []
        for record in records:
            v = record.get(name)
            values.append(
                v if v is None or isinstance(v, str) else json.dumps(v, separators=(",", ":"))
            )
        columns[name] = pa.array(values, pa.string())
    return columns


# Arrow's JSON reader splits its input into blocks of this size and parses them in parallel
# (a record must fit in one block, so the block grows to the longest record).
JSON_BLOCK_BYTES = 16 << 20
# The first records up to this size fix the key order and the all-string schema of the rest.
SCHEMA_SAMPLE_BYTES = 1 << 20


def _offsets(values: pa.Array) -> np.ndarray:
    """The value offsets of a string array as numpy (no copy)."""
    kind = np.int64 if pa.types.is_large_string(values.type) else np.int32
    return np.frombuffer(
        values.buffers()[1],
        dtype=kind,
        count=len(values) + 1,
        offset=values.offset * kind().itemsize,
    )


def _json_lines(texts: pa.Array) -> tuple[pa.Buffer, np.ndarray]:
    """The texts as newline-delimited JSON in one Arrow buffer (joined in C++, no Python
    copies), with the byte offset where each line starts (and the end)."""
    lines = pc.binary_join_element_wise(texts, pa.scalar("", texts.type), "\n")
    offsets = _offsets(lines)
    start, end = int(offsets[0]), int(offsets[-1])
    return lines.buffers()[2].slice(start, end - start), offsets - start


def _read_json_lines(
    payload: pa.Buffer | bytes, schema: pa.Schema | None = None, block_size: int = JSON_BLOCK_BYTES
) -> pa.Table:
    return pa_json.read_json(
        pa.BufferReader(payload),
        read_options=pa_json.ReadOptions(block_size=block_size),
        parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="infer"
        ),
    )


def _as_string(field: pa.Field) -> pa.Field:
    return pa.field(field.name, pa.string())


def _arrow_parse(payload: pa.Buffer, starts: np.ndarray, rows: int) -> pa.Table:
    """One parse of the JSON lines by Arrow's multi-threaded reader.

    The first records give the keys (first-seen order) and their JSON types: keys holding
    strings (or only nulls so far) are read as strings by an explicit schema, so a
    timestamp-like string is never turned into a timestamp; other keys are inferred. Raises
    ``pa.ArrowInvalid`` when a key's JSON type changes between records, for the caller to
    take a slower path.
    """
    longest = int(np.max(np.diff(starts))) if rows else 0
    block = max(JSON_BLOCK_BYTES, longest + 1)
    sample_end = int(starts[min(int(np.searchsorted(starts, SCHEMA_SAMPLE_BYTES)), rows)])
    sample = _read_json_lines(payload.slice(0, max(sample_end, int(starts[1]))), block_size=block)
    order = sample.column_names
    stringy = [
        _as_string(f)
        for f in sample.schema
        if pa.types.is_string(f.type) or pa.types.is_null(f.type) or pa.types.is_temporal(f.type)
    ]
    parsed = _read_json_lines(payload, pa.schema(stringy), block)
    while any(pa.types.is_temporal(f.type) for f in parsed.schema):  # a key first seen later
        schema = pa.schema(
            [_as_string(f) if pa.types.is_temporal(f.type) else f for f in parsed.schema]
        )
        parsed = _read_json_lines(payload, schema, block)
    if parsed.num_rows != rows:
        raise pa.ArrowInvalid(f"{rows} records gave {parsed.num_rows} JSON rows")
    names = [n for n in order if n in parsed.column_names]
    names += [n for n in parsed.column_names if n not in set(order)]
    return parsed.select(names)


def _records_to_string_columns(texts: pa.Array) -> dict[str, pa.Array | pa.ChunkedArray]:
    """Every JSON key becomes a nullable string column, keys in first-seen order.

    Fast path: one parse by Arrow's JSON reader (see :func:`_arrow_parse`), scalars
    stringified. A key whose JSON type changes between records makes the reference path do
    the whole table. Nested values always take the reference path, so their JSON text is
    exactly what was sent.
    """
    if not len(texts):
        return {}
    payload, starts = _json_lines(texts)
    try:
        parsed = _arrow_parse(payload, starts, len(texts))
    except pa.ArrowInvalid:
        return _python_string_columns(texts.to_pylist())
    nested = {f.name for f in parsed.schema if pa.types.is_nested(f.type)}
    nested_columns = _python_string_columns(texts.to_pylist(), nested) if nested else {}
    columns: dict[str, pa.Array] = {}
    for name, col in zip(parsed.column_names, parsed.columns, strict=True):
        if name in nested:
            columns[name] = nested_columns[name]
        elif pa.types.is_floating(col.type):  # JSON text form of the number
            columns[name] = pa.array(
                [None if v is None else json.dumps(v) for v in col.to_pylist()], pa.string()
            )
        else:  # kept in the reader's chunks: combining would copy every text again
            columns[name] = col if pa.types.is_string(col.type) else col.cast(pa.string())
    return columns


def _first_occurrences(texts: pa.Array) -> np.ndarray | None:
    """Row numbers of the first occurrence of every distinct text, or None when no text is
    repeated.

    A vectorised fingerprint (length and 64 bytes sampled across the text) finds the rows
    that could be repeats; only those are compared in full.
    """
    n = len(texts)
    if n < 2:
        return None
    offsets = _offsets(texts).astype(np.int64)
    data = np.frombuffer(texts.buffers()[2], dtype=np.uint8)
    if data.size == 0:
        candidates = np.arange(n)
    else:
        starts, lengths = offsets[:-1], np.diff(offsets)
        samples = [lengths.astype("<u8").view(np.uint8).reshape(n, 8)]
        for step in range(64):
            at = np.minimum(starts + lengths * step // 64, data.size - 1)
            samples.append(np.where(lengths > 0, data[at], 0).astype(np.uint8).reshape(n, 1))
        prints = np.ascontiguousarray(np.hstack(samples)).view(np.dtype((np.void, 72))).ravel()
        _, inverse, counts = np.unique(prints, return_inverse=True, return_counts=True)
        candidates = np.flatnonzero(counts[inverse] > 1)
    if not len(candidates):
        return None
    seen: set[str] = set()
    repeats = []
    for row, text in zip(candidates, texts.take(pa.array(candidates)).to_pylist(), strict=True):
        if text in seen:
            repeats.append(row)
        seen.add(text)
    if not repeats:
        return None
    return np.setdiff1d(np.arange(n), np.asarray(repeats))


def parse_responses(raw: pa.Table, resource: str) -> ParseResult:
    """Status-200 rows only; every JSON key a string column; import metadata kept.

    Records repeated byte-for-byte (a page boundary shifting under paging) are collapsed
    and counted; differing rows for one id are kept, for the uniqueness check to catch.
    """
    if resource not in raw.column_names:
        raise DataError(f"tascomi {resource}: raw rows lack the record column {resource!r}")
    rows_in = raw.num_rows
    ok, non_200 = raw, 0
    if rows_in:
        status_200 = pc.fill_null(pc.equal(raw["import_api_status_code"], 200), False)
        non_200 = rows_in - (pc.sum(status_200).as_py() or 0)
        usable = pc.and_(status_200, pc.is_valid(raw[resource]))
        if not pc.all(usable).as_py():  # filter only when needed: it copies every column
            ok = raw.filter(usable)
    duplicates = 0
    texts = ok[resource].combine_chunks() if ok.num_rows else pa.array([], pa.string())
    keep = _first_occurrences(texts)
    if keep is not None:
        duplicates = len(texts) - len(keep)
        ok = ok.take(pa.array(keep))
        texts = texts.take(pa.array(keep))
    record_columns = _records_to_string_columns(texts)
    metadata_names = [c for c in ok.column_names if c != resource]
    names = [n for n in record_columns if n not in metadata_names]
    arrays = [record_columns[n] for n in names] + [ok[c].combine_chunks() for c in metadata_names]
    table = pa.table(dict(zip(names + metadata_names, arrays, strict=True)))
    return ParseResult(table, rows_in, non_200, duplicates)


# --------------------------------------------------------------------------- recast

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
