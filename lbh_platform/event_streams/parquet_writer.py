"""Event files as the council's S3 sink writes them: Parquet from the topic's Avro schema.

parquet-avro (the sink's ``ParquetFormat``) maps the Avro schema onto Parquet: records are
groups, ``["null", T]`` unions optional fields and other fields required, strings UTF8
binaries, enums ENUM binaries, ``int``/``long`` INT32/INT64, ``float``/``double``
FLOAT/DOUBLE, arrays LIST groups; the file carries the Avro schema as ``parquet.avro.schema``.
This writes the same with pyarrow (an enum as plain binary, which is how pyarrow reads an ENUM
column; lists in the current three-level layout, which parquet-avro writes with
``write-old-list-structure=false``). It is what the demo and the generator seed the raw zone
with; the tests read files written independently of it.
"""

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

_PRIMITIVES = {
    "string": pa.string(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "bytes": pa.binary(),
}


class _Types:
    def __init__(self) -> None:
        self.named: dict[str, Any] = {}

    def field(self, spec: dict[str, Any]) -> pa.Field:
        avro, nullable = spec["type"], False
        if isinstance(avro, list):
            nullable = "null" in avro
            avro = next(b for b in avro if b != "null")
        return pa.field(spec["name"], self.arrow(avro), nullable)

    def arrow(self, avro: Any) -> pa.DataType:
        if isinstance(avro, str):
            if avro in _PRIMITIVES:
                return _PRIMITIVES[avro]
            return self.arrow(self.named[avro])
        kind = avro["type"]
        if kind in ("record", "enum") and "name" in avro:
            self.named[avro["name"]] = avro
        if kind == "record":
            return pa.struct([self.field(f) for f in avro["fields"]])
        if kind == "enum":
            return pa.binary()
        if kind == "array":
            return pa.list_(pa.field("element", self.arrow(avro["items"]), False))
        return self.arrow(kind)


def arrow_schema(avro: dict[str, Any]) -> pa.Schema:
    """The Arrow schema of a sink file for this Avro schema (required fields not null)."""
    types = _Types()
    schema = pa.schema([types.field(f) for f in avro["fields"]])
    metadata = {"parquet.avro.schema": json.dumps(avro), "writer.model.name": "avro"}
    return schema.with_metadata(metadata)


def parquet_bytes(avro: dict[str, Any], events: list[dict[str, Any]]) -> bytes:
    """``events`` (dicts keyed by the Avro names) as one snappy Parquet file."""
    schema = arrow_schema(avro)
    table = pa.Table.from_pylist([_encoded(e, schema) for e in events], schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


def _encoded(value: Any, target: pa.Schema | pa.DataType) -> Any:
    """Text for an enum's binary column as UTF-8 bytes, nested values likewise."""
    if isinstance(target, pa.Schema):
        return {f.name: _encoded(value.get(f.name), f.type) for f in target}
    if value is None:
        return None
    if pa.types.is_binary(target) and isinstance(value, str):
        return value.encode()
    if pa.types.is_struct(target):
        return {f.name: _encoded(value.get(f.name), f.type) for f in target}
    if pa.types.is_list(target):
        return [_encoded(v, target.value_type) for v in value]
    return value
