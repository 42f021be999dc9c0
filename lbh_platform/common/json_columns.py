"""Raw API rows to columns: every key of each record's JSON text becomes a nullable string
column, import metadata kept, byte-identical repeats collapsed.

The raw layout is the original platform's for any paged JSON API (one row per record: its
JSON text in a column named after the resource, plus ``import_api_status_code`` and the
``import_*`` columns), so this serves every such source and the single-machine engine. One
parallel pass of Arrow's JSON reader with an all-string schema, over the record texts where
they lie (not copied into JSON lines); no Dagster, no I/O.
"""

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from lbh_platform.common.errors import DataError


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
    parsed = _read_json_lines(payload, _string_schema(sample), block)
    while any(pa.types.is_temporal(f.type) for f in parsed.schema):  # a key first seen later
        schema = pa.schema(
            [_as_string(f) if pa.types.is_temporal(f.type) else f for f in parsed.schema]
        )
        parsed = _read_json_lines(payload, schema, block)
    if parsed.num_rows != rows:
        raise pa.ArrowInvalid(f"{rows} records gave {parsed.num_rows} JSON rows")
    return _in_key_order(parsed, order)


def _in_key_order(parsed: pa.Table, order: list[str]) -> pa.Table:
    """The sample's keys first (first-seen order), then the keys seen later."""
    names = [n for n in order if n in parsed.column_names]
    names += [n for n in parsed.column_names if n not in set(order)]
    return parsed.select(names)


def _sample_rows(texts: pa.Array) -> int:
    """How many of the first records make the schema sample: those starting within
    ``SCHEMA_SAMPLE_BYTES`` of the JSON lines (at least one)."""
    offsets = _offsets(texts).astype(np.int64)
    line_starts = offsets - offsets[0] + np.arange(len(offsets))  # one newline per record
    return max(1, min(int(np.searchsorted(line_starts, SCHEMA_SAMPLE_BYTES)), len(texts)))


def _string_schema(sample: pa.Table) -> pa.Schema:
    """The sample's keys holding strings (or only nulls so far, or timestamp-like strings)
    as an explicit all-string schema: Arrow's reader then never makes them timestamps."""
    return pa.schema(
        [
            _as_string(f)
            for f in sample.schema
            if pa.types.is_string(f.type)
            or pa.types.is_null(f.type)
            or pa.types.is_temporal(f.type)
        ]
    )


def _record_runs(texts: pa.Array) -> list[tuple[pa.Buffer, int]] | None:
    """The texts' own data buffer cut, without a copy, into runs of whole records of about
    ``JSON_BLOCK_BYTES``, with each run's record count.

    Arrow's reader takes JSON objects written back to back, so the records need no newline
    between them (joining them would copy every text). None unless every text is one
    ``{...}`` (the raw stage stores one JSON object per record, as sent or encoded). A run is
    read as a single block, so a text that spans lines (a pretty-printed API body) reads alike.
    """
    data = texts.buffers()[2]
    if texts.null_count or data is None:
        return None
    offsets = _offsets(texts).astype(np.int64)
    starts, ends = offsets[:-1], offsets[1:]
    chars = np.frombuffer(data, dtype=np.uint8)
    if (
        np.any(ends - starts < 2)
        or np.any(chars[starts] != ord("{"))
        or np.any(chars[ends - 1] != ord("}"))
    ):
        return None
    marks = np.arange(offsets[0], offsets[-1], JSON_BLOCK_BYTES)
    cuts = np.unique(np.append(np.searchsorted(offsets, marks), len(texts)))
    return [
        (data.slice(int(offsets[a]), int(offsets[b] - offsets[a])), int(b - a))
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]


def _read_run(run: tuple[pa.Buffer, int], schema: pa.Schema) -> pa.Table:
    payload, rows = run
    parsed = pa_json.read_json(
        pa.BufferReader(payload),
        read_options=pa_json.ReadOptions(use_threads=False, block_size=payload.size + 1),
        parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="infer"
        ),
    )
    if parsed.num_rows != rows:
        raise pa.ArrowInvalid(f"{rows} records gave {parsed.num_rows} JSON rows")
    return parsed


def _arrow_parse_runs(texts: pa.Array) -> pa.Table | None:
    """The same table as :func:`_arrow_parse`, without joining the texts: each run of
    records (see :func:`_record_runs`) read as one block, the runs in parallel threads.

    None (for the caller to take :func:`_arrow_parse`) when the texts are not plain
    objects, a run fails, or the runs disagree on a type or a key (a key first seen late, a
    key null in some runs): those cases need the reader's inference across all records.
    """
    runs = _record_runs(texts)
    if runs is None:
        return None
    # The sample read exactly as :func:`_arrow_parse` reads it (blocks sized by the longest line).
    longest_line = int(np.max(np.diff(_offsets(texts)))) + 1
    sample_payload, _ = _json_lines(texts.slice(0, _sample_rows(texts)))
    threads = min(pa.cpu_count(), os.cpu_count() or 1, len(runs))
    try:
        sample = _read_json_lines(
            sample_payload, block_size=max(JSON_BLOCK_BYTES, longest_line + 1)
        )
        schema = _string_schema(sample)
        if threads > 1:
            with ThreadPoolExecutor(threads, thread_name_prefix="parse") as pool:
                tables = list(pool.map(lambda run: _read_run(run, schema), runs))
        else:
            tables = [_read_run(run, schema) for run in runs]
    except pa.ArrowInvalid:
        return None
    if any(not t.schema.equals(tables[0].schema) for t in tables) or any(
        pa.types.is_temporal(f.type) for f in tables[0].schema
    ):
        return None
    return _in_key_order(pa.concat_tables(tables), sample.column_names)


def _records_to_string_columns(texts: pa.Array) -> dict[str, pa.Array | pa.ChunkedArray]:
    """Every JSON key becomes a nullable string column, keys in first-seen order.

    Fast path: one parse by Arrow's JSON reader (see :func:`_arrow_parse_runs`, else
    :func:`_arrow_parse`), scalars stringified. A key whose JSON type changes between
    records makes the reference path do the whole table. Nested values always take the
    reference path, so their JSON text is exactly what was sent.
    """
    if not len(texts):
        return {}
    parsed = _arrow_parse_runs(texts)
    if parsed is None:
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


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array: its only chunk as is (``combine_chunks`` would copy it, and
    a raw partition's record texts are hundreds of MB), else the chunks concatenated."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def parse_responses(raw: pa.Table, resource: str) -> ParseResult:
    """Status-200 rows only; every JSON key a string column; import metadata kept.

    Records repeated byte-for-byte (a page boundary shifting under paging) are collapsed
    and counted; differing rows for one id are kept, for the uniqueness check to catch.
    """
    if resource not in raw.column_names:
        raise DataError(f"{resource}: raw rows lack the record column {resource!r}")
    rows_in = raw.num_rows
    ok, non_200 = raw, 0
    if rows_in:
        status_200 = pc.fill_null(pc.equal(raw["import_api_status_code"], 200), False)
        non_200 = rows_in - (pc.sum(status_200).as_py() or 0)
        usable = pc.and_(status_200, pc.is_valid(raw[resource]))
        if not pc.all(usable).as_py():  # filter only when needed: it copies every column
            ok = raw.filter(usable)
    duplicates = 0
    texts = _one_array(ok[resource]) if ok.num_rows else pa.array([], pa.string())
    keep = _first_occurrences(texts)
    if keep is not None:
        duplicates = len(texts) - len(keep)
        ok = ok.take(pa.array(keep))
        texts = texts.take(pa.array(keep))
    record_columns = _records_to_string_columns(texts)
    metadata_names = [c for c in ok.column_names if c != resource]
    names = [n for n in record_columns if n not in metadata_names]
    arrays = [record_columns[n] for n in names] + [_one_array(ok[c]) for c in metadata_names]
    table = pa.table(dict(zip(names + metadata_names, arrays, strict=True)))
    return ParseResult(table, rows_in, non_200, duplicates)
