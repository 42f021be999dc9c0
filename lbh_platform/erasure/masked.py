"""Masked views: a table's view without its declared personal data, or with it hashed, for
analysts who need counts, not people.

``<table>_masked`` beside the table, in the same database, selecting every column except the
personal ones (``drop``), or with them replaced by a SHA-256 of their text (``hash``: equal
values stay equal, so distinct counts and joins still work; it is pseudonymous, not
anonymous: a short or guessable value can be found again, so prefer ``drop``). A personal
nested field is taken out of its struct, in every element of a list (``household_members``
keeps each member's id and type, without ``full_name``). The column list is fixed when the
view is made: a column the table gains later is not shown until the view is made again, so a
new personal column is never shown by mistake.

The same declaration gives the DuckDB view (the local catalogue, the SQL command line) and
the Athena one (docs/PERSONAL_DATA.md).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from lbh_platform.catalog.duckdb_catalog import quote_identifier
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.erasure.paths import Step
from lbh_platform.erasure.personal import PersonalData

Mode = Literal["drop", "hash"]
Dialect = Literal["duckdb", "athena"]
SUFFIX = "_masked"


def masked_name(table: str) -> str:
    return f"{table}{SUFFIX}"


def masked_mode(given: Mapping[str, str] | None = None) -> Mode:
    """The mode of the local catalogue's masked views (``LBH_MASKED_VIEWS``, default drop)."""
    from lbh_platform import settings_registry as registry
    from lbh_platform.erasure.settings import MASKED_MODES, MASKED_VIEWS

    value = (registry.get(MASKED_VIEWS, given) or "drop").strip().lower()
    if value not in MASKED_MODES:
        raise ConfigurationError(f"{MASKED_VIEWS}={value!r}: use one of {', '.join(MASKED_MODES)}")
    return value  # type: ignore[return-value]


def presto_type(data_type: pa.DataType) -> str:
    """The Athena (Trino) type of an Arrow type, for the casts a masked struct needs."""
    t = data_type
    if pa.types.is_dictionary(t):
        return presto_type(t.value_type)
    simple = [
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_int8, "tinyint"),
        (pa.types.is_int16, "smallint"),
        (pa.types.is_int32, "integer"),
        (pa.types.is_int64, "bigint"),
        (pa.types.is_float32, "real"),
        (pa.types.is_float64, "double"),
        (pa.types.is_string, "varchar"),
        (pa.types.is_large_string, "varchar"),
        (pa.types.is_binary, "varbinary"),
        (pa.types.is_timestamp, "timestamp"),
        (pa.types.is_date, "date"),
        (pa.types.is_null, "varchar"),
    ]
    for test, name in simple:
        if test(t):
            return name
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array({presto_type(t.value_type)})"
    if pa.types.is_map(t):
        return f"map({presto_type(t.key_type)}, {presto_type(t.item_type)})"
    if pa.types.is_struct(t):
        fields = ", ".join(
            f"{quote_identifier(t.field(i).name)} {presto_type(t.field(i).type)}"
            for i in range(t.num_fields)
        )
        return f"row({fields})"
    return "varchar"


@dataclass(frozen=True)
class _Built:
    sql: str
    type: str  # the Athena type of the expression


class _Builder:
    def __init__(self, mode: Mode, dialect: Dialect):
        self.mode = mode
        self.dialect = dialect

    def hashed(self, ref: str, data_type: pa.DataType) -> _Built:
        if self.dialect == "duckdb":
            return _Built(f"sha256(CAST({ref} AS VARCHAR))", "varchar")
        nested = pa.types.is_struct(data_type) or pa.types.is_list(data_type)
        text = f"json_format(CAST({ref} AS json))" if nested else f"CAST({ref} AS varchar)"
        return _Built(f"to_hex(sha256(to_utf8({text})))", "varchar")

    def field(
        self,
        ref: str,
        data_type: pa.DataType,
        each: bool,
        rests: list[tuple[Step, ...]],
        depth: int,
    ) -> _Built | None:
        """A value (a list when ``each``) with ``rests`` (paths inside it) masked."""
        if any(not rest for rest in rests):
            return None if self.mode == "drop" else self.hashed(ref, data_type)
        if not each:
            return self.inner(ref, data_type, rests, depth)
        var = f"x{depth}"
        element = self.inner(var, data_type.value_type, rests, depth + 1)
        if element is None:
            return None
        if self.dialect == "duckdb":
            return _Built(f"list_transform({ref}, lambda {var}: {element.sql})", "")
        return _Built(f"transform({ref}, {var} -> {element.sql})", f"array({element.type})")

    def inner(
        self, ref: str, data_type: pa.DataType, rests: list[tuple[Step, ...]], depth: int
    ) -> _Built | None:
        if not pa.types.is_struct(data_type):
            raise ValueError(f"{ref} is a {data_type}; a personal field path goes into structs")
        parts: list[tuple[str, _Built]] = []
        for i in range(data_type.num_fields):
            child = data_type.field(i)
            sub = [rest for rest in rests if rest[0].name == child.name]
            child_ref = f"{ref}.{quote_identifier(child.name)}"
            if not sub:
                parts.append((child.name, _Built(child_ref, presto_type(child.type))))
                continue
            each = any(rest[0].each for rest in sub)
            built = self.field(child_ref, child.type, each, [r[1:] for r in sub], depth)
            if built is not None:
                parts.append((child.name, built))
        if not parts:
            return None
        if self.dialect == "duckdb":
            inside = ", ".join(f"{quote_identifier(n)} := {b.sql}" for n, b in parts)
            built = f"struct_pack({inside})"
            row = ""
        else:
            values = ", ".join(b.sql for _, b in parts)
            row = "row(" + ", ".join(f"{quote_identifier(n)} {b.type}" for n, b in parts) + ")"
            built = f"CAST(ROW({values}) AS {row})"
        return _Built(f"CASE WHEN {ref} IS NULL THEN NULL ELSE {built} END", row)


def masked_select(
    schema: pa.Schema,
    personal: PersonalData,
    mode: Mode = "drop",
    dialect: Dialect = "duckdb",
    passthrough: Sequence[str] = (),
) -> list[str]:
    """The select list of a masked view: one expression per column left (``passthrough``
    columns, e.g. the partition column, are kept as they are)."""
    builder = _Builder(mode, dialect)
    selected = []
    for field in schema:
        name = quote_identifier(field.name)
        paths = [p.steps for p in personal.paths if p.column == field.name]
        if not paths:
            selected.append(name)
            continue
        each = any(steps[0].each for steps in paths)
        built = builder.field(name, field.type, each, [s[1:] for s in paths], 0)
        if built is not None:
            selected.append(f"{built.sql} AS {name}")
    selected += [quote_identifier(c) for c in passthrough if c not in schema.names]
    return selected


def masked_view_sql(
    database: str,
    table: str,
    schema: pa.Schema,
    personal: PersonalData,
    mode: Mode = "drop",
    dialect: Dialect = "duckdb",
    passthrough: Sequence[str] = (),
) -> str:
    """``CREATE OR REPLACE VIEW "<database>"."<table>_masked"`` over the table's own view."""
    columns = masked_select(schema, personal, mode, dialect, passthrough)
    if not columns:
        raise ValueError(f"{database}.{table}: every column is personal; a masked view is empty")
    source = f"{quote_identifier(database)}.{quote_identifier(table)}"
    target = f"{quote_identifier(database)}.{quote_identifier(masked_name(table))}"
    body = ",\n  ".join(columns)
    return f"CREATE OR REPLACE VIEW {target} AS\nSELECT\n  {body}\nFROM {source}"


def create_masked_view(
    duckdb_path: str,
    database: str,
    table: str,
    schema: pa.Schema,
    personal: PersonalData,
    mode: Mode = "drop",
    passthrough: Sequence[str] = (),
) -> str:
    """Create (or replace) the masked view in the local catalogue file; returns its name."""
    import duckdb

    sql = masked_view_sql(database, table, schema, personal, mode, "duckdb", passthrough)
    with duckdb.connect(duckdb_path) as connection:
        connection.execute(sql)
    return f"{database}.{masked_name(table)}"
