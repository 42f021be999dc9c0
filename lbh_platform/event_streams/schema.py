"""One canonical column schema for an entity, whichever source it came from.

DynamoDB items use camelCase attribute names (``householdMembers``) and store dates as
ISO-8601 strings; change events use the Avro schema's PascalCase (``HouseholdMembers``) and
Unix seconds, whether the sink wrote them as Parquet or JSON. Both are mapped, by the same name
rule, onto one set of snake_case columns with one Arrow type each (derived from the Avro schema
by :mod:`lbh_platform.event_streams.avro`), so an extract and the events can be unioned and
compared without per-entity code.

Null dates arrive as sentinels: the event schemas' ``int`` dates use ``-2147483648``
(``int.MinValue``, as in the reference samples) and .NET writes an unset ``DateTime`` as
``0001-01-01T00:00:00``. Both become null. Every column is nullable in storage, so files of an
older schema version, an extract and either engine's output share one table schema.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from lbh_platform.common.event_state import conform_to

INT_MIN_DATE = -2147483648
DOTNET_MIN_DATE = "0001-01-01"
TIMESTAMP = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Unix seconds a timestamp column holds (years 0001 to 9999), checked before any arithmetic so
# a huge number is a conversion error, never an OverflowError.
MIN_SECONDS = -62135596800
MAX_SECONDS = 253402300799
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
KINDS = ("string", "bool", "float", "int", "timestamp", "struct", "list")


def snake_case(name: str) -> str:
    """``householdMembers`` / ``HouseholdMembers`` -> ``household_members``; ``UPRN`` -> ``uprn``.

    One rule for both sources is what makes their columns meet.
    """
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


@dataclass(frozen=True)
class Field:
    """One column (or nested field).

    ``kind`` is one of ``KINDS``; a struct has ``fields``; a list holds structs (``fields``)
    or scalars of kind ``item``. ``source`` is the name in the Avro schema, ``nullable`` False
    when the schema requires a value, ``symbols`` an enum's values (stored as text).
    """

    name: str
    kind: str
    fields: tuple["Field", ...] = ()
    source: str = ""
    item: str | None = None
    nullable: bool = True
    symbols: tuple[str, ...] = ()

    @property
    def arrow_type(self) -> pa.DataType:
        if self.kind == "struct":
            return pa.struct([pa.field(f.name, f.arrow_type) for f in self.fields])
        if self.kind == "list":
            if self.item is not None:
                return pa.list_(_SCALAR_TYPES[self.item])
            return pa.list_(pa.struct([pa.field(f.name, f.arrow_type) for f in self.fields]))
        return _SCALAR_TYPES[self.kind]

    @property
    def source_name(self) -> str:
        return self.source or self.name


_SCALAR_TYPES = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "float": pa.float64(),
    "int": pa.int64(),
    "timestamp": TIMESTAMP,
}


class ConversionError(ValueError):
    """A value does not fit its canonical field; ``path`` names it (``charges.rent``)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass
class Conversion:
    """How one batch of records converted: values nulled per field path (lenient mode) and
    source names that are not in the canonical schema (top level and nested)."""

    failures: dict[str, int] = field(default_factory=dict)
    unmapped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)

    def fail(self, error: ConversionError) -> None:
        self.failures[error.path] = self.failures.get(error.path, 0) + 1
        self.examples.setdefault(error.path, error.reason)

    def unknown(self, path: str) -> None:
        self.unmapped[path] = self.unmapped.get(path, 0) + 1


def to_timestamp(value: Any, path: str = "value") -> datetime | None:
    """Unix seconds (int or float), an ISO-8601 string or a date -> an aware UTC datetime;
    sentinels (``-2147483648``, ``0001-01-01...``) and None -> None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConversionError(path, f"a boolean ({value}) is not a date")
    if isinstance(value, int | float):
        if value == INT_MIN_DATE:
            return None
        if value != value or not MIN_SECONDS <= value <= MAX_SECONDS:  # NaN, or out of range
            raise ConversionError(path, f"{_short(value)} seconds is out of range")
        return _EPOCH + timedelta(seconds=value)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return _iso_timestamp(value, path)
    raise ConversionError(path, f"{type(value).__name__} {_short(value)} is not a date")


def _iso_timestamp(value: str, path: str) -> datetime | None:
    text = value.strip()
    if not text or text.startswith(DOTNET_MIN_DATE):
        return None
    match = _ISO.match(text)
    if not match:
        raise ConversionError(path, f"{_short(value)} is not an ISO-8601 date")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=UTC,
        )
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    except (ValueError, OverflowError) as exc:
        raise ConversionError(path, f"{_short(value)} is not a valid date: {exc}") from exc
    return moment


def _short(value: Any, limit: int = 80) -> str:
    """A value for a message, cut short (a 400-digit number is not worth printing)."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**limit else "a huge number"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _scalar(value: Any, kind: str, path: str) -> Any:
    if value is None:
        return None
    if kind == "timestamp":
        return to_timestamp(value, path)
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bytes):  # an Avro enum in Parquet reads as binary
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConversionError(path, f"not UTF-8 text: {exc}") from exc
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, int | float):
            return str(value)
        raise ConversionError(path, f"expected text, got {type(value).__name__}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ConversionError(path, f"expected a boolean, got {_short(value)}")
    if kind in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConversionError(path, f"expected a number, got {_short(value)}")
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ConversionError(path, f"expected a whole number, got {value!r}")
            if not -(2**63) <= value < 2**63:
                raise ConversionError(path, f"{_short(value)} does not fit 64 bits")
            return int(value)
        try:
            return float(value)
        except OverflowError as exc:
            raise ConversionError(path, f"{_short(value)} does not fit a double") from exc
    raise ConversionError(path, f"unknown kind {kind!r}")  # pragma: no cover


class _Converter:
    def __init__(self, strict: bool, report: Conversion, renames: Mapping[str, str]):
        self.strict = strict
        self.report = report
        self.renames = renames

    def value(self, value: Any, spec: Field, path: str) -> Any:
        try:
            if value is None:
                return None
            if spec.kind == "struct":
                if not isinstance(value, Mapping):
                    raise ConversionError(path, f"expected an object, got {type(value).__name__}")
                return self.record(value, spec.fields, path)
            if spec.kind == "list":
                if not isinstance(value, list | tuple):
                    raise ConversionError(path, f"expected a list, got {type(value).__name__}")
                if spec.item is not None:
                    return [_scalar(item, spec.item, f"{path}[]") for item in value]
                out = []
                for i, item in enumerate(value):
                    if not isinstance(item, Mapping):
                        raise ConversionError(
                            f"{path}[{i}]", f"expected an object, got {type(item).__name__}"
                        )
                    out.append(self.record(item, spec.fields, f"{path}[]"))
                return out
            return _scalar(value, spec.kind, path)
        except ConversionError as error:
            if self.strict:
                raise
            self.report.fail(error)
            return None

    def record(self, source: Mapping[str, Any], fields: Iterable[Field], path: str) -> dict:
        by_name = {f.name: f for f in fields}
        out: dict[str, Any] = dict.fromkeys(by_name)
        for key, value in source.items():
            raw = f"{path}.{key}" if path else str(key)
            name = self.renames.get(raw) or snake_case(str(key))
            spec = by_name.get(name)
            where = f"{path}.{name}" if path else name
            if spec is None:
                self.report.unknown(where)
                continue
            out[name] = self.value(value, spec, where)
        return out


@dataclass(frozen=True)
class EntitySchema:
    """An entity's canonical fields (from its Avro schema) and its key column."""

    entity: str  # names the entity in messages ("tenure")
    fields: tuple[Field, ...]
    key: str

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(f.name, f.arrow_type) for f in self.fields])

    def canonical_record(
        self,
        source: Mapping[str, Any],
        *,
        strict: bool,
        report: Conversion | None = None,
        renames: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One entity (camelCase or PascalCase keys) -> canonical snake_case values.

        Strict (created/updated events): the first value that does not fit raises
        ConversionError, so the event is quarantined. Lenient (the DynamoDB extract): the value
        becomes null and is counted, because dropping an entity from the initial state would
        be worse than one null field. ``renames`` maps a source name, as
        ``<canonical parent path>.<source name>`` (top level: the name alone), to the column
        it fills when the snake_case rule would not find it.
        """
        converter = _Converter(strict, report or Conversion(), renames or {})
        return converter.record(source, self.fields, "")

    def unmapped_top_level(
        self, source: Mapping[str, Any], renames: Mapping[str, str] | None = None
    ) -> list[str]:
        """Source attribute names outside the canonical schema (kept in the raw extract only)."""
        renames = renames or {}
        columns = set(self.columns)
        return [k for k in source if (renames.get(str(k)) or snake_case(str(k))) not in columns]

    def canonical_table(self, records: list[dict[str, Any]]) -> pa.Table:
        """Canonical records -> a table with exactly the canonical schema (missing keys null)."""
        if not records:
            return self.arrow_schema.empty_table()
        return pa.Table.from_pylist(records, schema=self.arrow_schema)

    def conform(self, table: pa.Table, what: str) -> pa.Table:
        """Select the canonical columns in order, adding absent ones as null; types must match."""
        return conform_to(table, self.arrow_schema, what)
