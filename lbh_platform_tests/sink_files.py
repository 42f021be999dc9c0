"""Test fixtures: event files written the way the council's S3 sink writes them, independently
of the project's own schema code.

The sink's ``ParquetFormat`` writes with parquet-avro from the topic's Avro schema. This
module reads the schema file (the JSON document, not the project's derived schema) and writes
the same Parquet with pyarrow, mirroring parquet-avro's mapping:

- the top-level record's fields are the file's columns; a nested record is a group (struct);
- a ``["null", T]`` union is an optional field, any other field required (``not null``);
- ``string`` is a UTF8 binary; an ``enum`` an ENUM-annotated binary, which pyarrow reads as
  plain binary, so it is written as binary here;
- ``int`` / ``long`` are INT32 / INT64 (the schemas' field-level ``"logicalType": "date"`` is
  not an Avro logical type, so the values are plain ints), ``float`` / ``double`` FLOAT /
  DOUBLE, ``boolean`` BOOLEAN;
- an ``array`` is a LIST group. parquet-avro writes the older two-level layout
  (``repeated group array``) by default and the three-level one (``repeated group list { element
  }``) with ``write-old-list-structure=false``. pyarrow cannot write the two-level layout; it
  reads it as a list whose item field is named ``array``, so ``lists="array"`` writes that (a
  three-level list with the item named ``array``, read back exactly as pyarrow reads the
  two-level one), ``lists="element"`` the current layout;
- the file's key-value metadata carries ``parquet.avro.schema`` and ``writer.model.name``.
"""

import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lbh_platform.config import CONFIG_DIR

SCHEMAS = CONFIG_DIR / "event_streams"
_PRIMITIVE = {
    "string": pa.string(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
}


def avro_schema(topic: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{topic}.json").read_text())


def _arrow(avro: Any, lists: str, named: dict[str, Any]) -> pa.DataType:
    if isinstance(avro, str):
        return _PRIMITIVE[avro] if avro in _PRIMITIVE else _arrow(named[avro], lists, named)
    kind = avro["type"]
    if kind in ("record", "enum"):
        named[avro["name"]] = avro
    if kind == "record":
        return pa.struct([_field(f, lists, named) for f in avro["fields"]])
    if kind == "enum":
        return pa.binary()
    if kind == "array":
        return pa.list_(pa.field(lists, _arrow(avro["items"], lists, named), False))
    return _arrow(kind, lists, named)


def _field(spec: dict[str, Any], lists: str, named: dict[str, Any]) -> pa.Field:
    avro = spec["type"]
    optional = isinstance(avro, list) and "null" in avro
    if isinstance(avro, list):
        avro = next(branch for branch in avro if branch != "null")
    return pa.field(spec["name"], _arrow(avro, lists, named), optional)


def parquet_schema(avro: dict[str, Any], lists: str = "array") -> pa.Schema:
    named: dict[str, Any] = {}
    schema = pa.schema([_field(f, lists, named) for f in avro["fields"]])
    return schema.with_metadata(
        {"parquet.avro.schema": json.dumps(avro), "writer.model.name": "avro"}
    )


def _binary_enums(value: Any, data_type: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_binary(data_type):
        return value.encode() if isinstance(value, str) else value
    if pa.types.is_struct(data_type):
        return {f.name: _binary_enums(value.get(f.name), f.type) for f in data_type}
    if pa.types.is_list(data_type):
        return [_binary_enums(v, data_type.value_type) for v in value]
    return value


def sink_parquet(avro: dict[str, Any], events: list[dict[str, Any]], lists: str = "array") -> bytes:
    """``events`` (dicts with the Avro names) as one snappy Parquet file, as the sink writes."""
    schema = parquet_schema(avro, lists)
    rows = [{f.name: _binary_enums(e.get(f.name), f.type) for f in schema} for e in events]
    table = pa.Table.from_pylist(rows, schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy", use_compliant_nested_type=lists == "element")
    return sink.getvalue()


def write_sink_file(root: Path, topic: str, day: str, name: str, payload: bytes) -> Path:
    """Put a file where the sink puts it under a raw zone folder ``root``."""
    folder = (
        root
        / "event-streaming"
        / topic
        / f"import_year={day[:4]}"
        / f"import_month={day[4:6]}"
        / f"import_day={day[6:]}"
        / f"import_date={day}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(payload)
    return path
