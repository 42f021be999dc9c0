"""Which columns a streamed Parquet file dictionary-encodes.

A file written in many row groups starts a new dictionary in every group, and a column of
mostly distinct values (ids, timestamps, amounts) then never outgrows the 1 MB dictionary
page that makes a one-group file fall back to plain encoding: every value is hashed into a
dictionary that saves nothing. Measured on the benchmark tables, that cost a third more write
time than one group (and a larger file); choosing per column from a sample of the first rows
gave back both.
"""

import pyarrow as pa
import pyarrow.compute as pc

SAMPLE_ROWS = 4096
# Below this many sampled rows the sample says too little: every column keeps its dictionary.
MIN_SAMPLE_ROWS = 1024
# A column whose sample is more than this share distinct values is written plain.
MAX_DISTINCT_SHARE = 0.5


def plain_columns(sample: pa.Table | pa.RecordBatch) -> set[str]:
    """Names of ``sample``'s columns of mostly distinct values (judged on its first rows)."""
    rows = min(sample.num_rows, SAMPLE_ROWS)
    if rows < MIN_SAMPLE_ROWS:
        return set()
    head = sample.slice(0, rows)
    limit = MAX_DISTINCT_SHARE * rows
    return {
        name
        for name, column in zip(head.schema.names, head.columns, strict=True)
        if _distinct(column) > limit
    }


def _distinct(column: pa.Array | pa.ChunkedArray) -> int:
    """Distinct values in ``column``; 0 for types Arrow cannot count (nested, null,
    dictionary-encoded), which keep the writer's default."""
    try:
        return pc.count_distinct(column).as_py()
    except pa.ArrowException:  # a heuristic never stops a write
        return 0


def dictionary_columns(
    schema: pa.Schema, sample: pa.Table | pa.RecordBatch | None
) -> bool | list[str]:
    """``schema``'s columns to dictionary-encode (for ``ParquetWriter(use_dictionary=...)``):
    all but those of mostly distinct values in ``sample``; columns not in it keep theirs.

    ``True`` (every column) when the schema has nested columns: the writer takes a list as
    leaf paths, and a nested column's leaves would lose their dictionary."""
    if any(pa.types.is_nested(field.type) for field in schema):
        return True
    plain = plain_columns(sample) if sample is not None else set()
    return [name for name in schema.names if name not in plain]
