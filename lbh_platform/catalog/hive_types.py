"""Arrow types as Hive DDL types, the language of Glue table columns (read by Athena, Spark).

Mirrors what a Glue crawler infers from parquet, so queries written against the original
crawled tables keep working: ``int32`` -> ``int``, ``timestamp`` -> ``timestamp``, nested
``struct<...>`` / ``array<...>`` / ``map<...>`` spelled out in full.
"""

import pyarrow as pa
import pyarrow.types as pat

_SIMPLE: list[tuple[object, str]] = [
    (pat.is_boolean, "boolean"),
    (pat.is_int8, "tinyint"),
    (pat.is_int16, "smallint"),
    (pat.is_int32, "int"),
    (pat.is_int64, "bigint"),
    (pat.is_uint8, "smallint"),
    (pat.is_uint16, "int"),
    (pat.is_uint32, "bigint"),
    (pat.is_uint64, "decimal(20,0)"),
    (pat.is_float16, "float"),
    (pat.is_float32, "float"),
    (pat.is_float64, "double"),
    (pat.is_string, "string"),
    (pat.is_large_string, "string"),
    (pat.is_binary, "binary"),
    (pat.is_large_binary, "binary"),
    (pat.is_fixed_size_binary, "binary"),
    (pat.is_timestamp, "timestamp"),
    (pat.is_date, "date"),
    # An all-null column has no type of its own in parquet; string is what crawlers chose.
    (pat.is_null, "string"),
]


def _field_name(name: str) -> str:
    return name.lower()


def hive_type(arrow_type: pa.DataType) -> str:
    """The Hive type for one Arrow type; raises ``TypeError`` for types Hive cannot express."""
    if pat.is_dictionary(arrow_type):
        return hive_type(arrow_type.value_type)
    for test, name in _SIMPLE:
        if test(arrow_type):  # type: ignore[operator]
            return name
    if pat.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if (
        pat.is_list(arrow_type)
        or pat.is_large_list(arrow_type)
        or pat.is_fixed_size_list(arrow_type)
    ):
        return f"array<{hive_type(arrow_type.value_type)}>"
    if pat.is_map(arrow_type):
        return f"map<{hive_type(arrow_type.key_type)},{hive_type(arrow_type.item_type)}>"
    if pat.is_struct(arrow_type):
        fields = ",".join(
            f"{_field_name(arrow_type.field(i).name)}:{hive_type(arrow_type.field(i).type)}"
            for i in range(arrow_type.num_fields)
        )
        return f"struct<{fields}>"
    if pat.is_time(arrow_type) or pat.is_duration(arrow_type):
        return "bigint"
    raise TypeError(f"no Hive type for Arrow type {arrow_type}")


def hive_columns(schema: pa.Schema, exclude: set[str] | None = None) -> list[dict[str, str]]:
    """Glue ``Columns`` for a schema: lower-cased names (as Glue stores them), first one wins."""
    columns: dict[str, dict[str, str]] = {}
    for field in schema:
        name = _field_name(field.name)
        if name in columns or name in (exclude or set()):
            continue
        columns[name] = {"Name": name, "Type": hive_type(field.type)}
    return list(columns.values())
