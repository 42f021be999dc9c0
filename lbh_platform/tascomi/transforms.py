"""Tascomi transforms on Arrow tables: raw rows, parse and recast (the shared dedupe and
upsert are in :mod:`lbh_platform.common.rows`).

These are the single-machine engine's implementations. They hold no Dagster and no I/O, so
they are unit-tested directly and the asset factories stay thin.
"""

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

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


def _read_json_lines(payload: bytes, schema: pa.Schema | None = None) -> pa.Table:
    return pa_json.read_json(
        io.BytesIO(payload),
        read_options=pa_json.ReadOptions(block_size=max(1 << 20, len(payload) + 1)),
        parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="infer"
        ),
    )


def _records_to_string_columns(texts: list[str]) -> dict[str, pa.Array]:
    """Every JSON key becomes a nullable string column, keys in first-seen order.

    Fast path: Arrow's JSON reader (strings it would read as timestamps are re-read as
    strings), then scalars stringified. It refuses a key whose JSON type changes between
    records; the reference path then does the whole table. Nested values always take the
    reference path, so their JSON text is exactly what was sent.
    """
    if not texts:
        return {}
    payload = "\n".join(texts).encode()
    try:
        parsed = _read_json_lines(payload)
        if any(pa.types.is_temporal(f.type) for f in parsed.schema):
            schema = pa.schema(
                [
                    pa.field(f.name, pa.string()) if pa.types.is_temporal(f.type) else f
                    for f in parsed.schema
                ]
            )
            parsed = _read_json_lines(payload, schema)
    except pa.ArrowInvalid:
        return _python_string_columns(texts)
    nested = {f.name for f in parsed.schema if pa.types.is_nested(f.type)}
    nested_columns = _python_string_columns(texts, nested) if nested else {}
    columns: dict[str, pa.Array] = {}
    for name, col in zip(parsed.column_names, parsed.columns, strict=True):
        if name in nested:
            columns[name] = nested_columns[name]
        elif pa.types.is_floating(col.type):  # JSON text form of the number
            columns[name] = pa.array(
                [None if v is None else json.dumps(v) for v in col.to_pylist()], pa.string()
            )
        else:
            columns[name] = col.combine_chunks().cast(pa.string())
    return columns


def parse_responses(raw: pa.Table, resource: str) -> ParseResult:
    """Status-200 rows only; every JSON key a string column; import metadata kept.

    Records repeated byte-for-byte (a page boundary shifting under paging) are collapsed
    and counted; differing rows for one id are kept, for the uniqueness check to catch.
    """
    if resource not in raw.column_names:
        raise DataError(f"tascomi {resource}: raw rows lack the record column {resource!r}")
    rows_in = raw.num_rows
    ok = raw.filter(pc.equal(raw["import_api_status_code"], 200)) if rows_in else raw
    non_200 = rows_in - ok.num_rows
    ok = ok.filter(pc.is_valid(ok[resource])) if ok.num_rows else ok
    duplicates = 0
    if ok.num_rows:
        texts = ok[resource].to_pylist()
        seen: set[str] = set()
        keep = []
        for i, text in enumerate(texts):
            if text in seen:
                continue
            seen.add(text)
            keep.append(i)
        duplicates = len(texts) - len(keep)
        if duplicates:
            ok = ok.take(pa.array(keep, pa.int64()))
            texts = [texts[i] for i in keep]
    else:
        texts = []
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
    (missing, blank, or an all-zero date) rather than as cast failures."""
    trimmed = pc.utf8_trim_whitespace(values)
    nullish = pc.fill_null(pc.equal(trimmed, ""), True)
    if column_type in ("timestamp", "date"):
        nullish = pc.or_(
            nullish, pc.fill_null(pc.is_in(trimmed, value_set=pa.array(NULL_DATES)), False)
        )
    trimmed = pc.if_else(nullish, _null_string(), trimmed)
    if column_type in ("integer", "long"):
        valid = pc.match_substring_regex(trimmed, INT_RE)
        digits = pc.replace_substring_regex(trimmed, r"^[+-]", "")
        negative = pc.starts_with(trimmed, "-")
        limit = pc.if_else(negative, pa.scalar(INT64_MIN_DIGITS), pa.scalar(INT64_MAX_DIGITS))
        overflow = pc.and_(pc.equal(pc.utf8_length(digits), 19), pc.greater(digits, limit))
        valid = pc.and_(valid, pc.invert(pc.fill_null(overflow, False)))
        unsigned = pc.replace_substring_regex(trimmed, r"^\+", "")
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
        lowered = pc.utf8_lower(trimmed)
        is_true = pc.is_in(lowered, value_set=pa.array(TRUE_TEXTS))
        is_false = pc.is_in(lowered, value_set=pa.array(FALSE_TEXTS))
        cast = pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))
        return cast, nullish
    if column_type in ("timestamp", "date"):
        candidates = pc.if_else(
            pc.match_substring_regex(trimmed, TEMPORAL_RE), trimmed, _null_string()
        )
        day = pc.utf8_slice_codeunits(candidates, 0, 10)
        parsed_day = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls impossible dates over (2024-02-30 -> 2024-03-01); they are failures.
        real_day = pc.equal(pc.strftime(parsed_day, format="%Y-%m-%d"), day)
        candidates = pc.if_else(real_day, candidates, _null_string())
        if column_type == "date":
            return pc.if_else(real_day, parsed_day, pa.scalar(None, parsed_day.type)).cast(
                pa.date32()
            ), nullish
        clock = pc.if_else(
            pc.greater(pc.utf8_length(candidates), 10),
            pc.utf8_slice_codeunits(candidates, 11, 19),
            pa.scalar("00:00:00"),
        )
        moment = pc.binary_join_element_wise(day, clock, " ")
        cast = pc.strptime(moment, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
        return cast, nullish
    raise ValueError(f"unknown column type {column_type!r}")


def recast(table: pa.Table, column_types: Mapping[str, str]) -> RecastResult:
    """Cast catalogue columns; count (never hide) values that could not be cast.

    A value that cannot be cast becomes null and is counted per column. A catalogue column
    missing from the data is reported, not fatal. Blank strings and all-zero dates are
    treated as null, not as failures.
    """
    failures: dict[str, int] = {}
    missing = [c for c in column_types if c not in table.column_names]
    if table.num_rows == 0:
        missing = []
    arrays = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        column_type = column_types.get(name)
        if column_type is None or not (
            pa.types.is_string(column.type) or pa.types.is_null(column.type)
        ):
            arrays.append(column)
            continue
        source = column.combine_chunks().cast(pa.string())
        cast, nullish = _cast_strings(source, column_type)
        lost = pc.and_(pc.invert(nullish), pc.is_null(cast))
        count = pc.sum(lost).as_py() or 0
        if count:
            failures[name] = count
        arrays.append(cast)
    return RecastResult(
        pa.table(dict(zip(table.column_names, arrays, strict=True))), failures, missing
    )
