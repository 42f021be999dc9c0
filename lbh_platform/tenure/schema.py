"""One canonical column schema for a tenure, whichever source it came from.

DynamoDB items use camelCase attribute names (``householdMembers``, ``startOfTenureDate``) and
store dates as ISO-8601 strings; change events use PascalCase (``HouseholdMembers``,
``StartOfTenureDate``) and Unix seconds. Both are mapped, by the same name rule, onto one set of
snake_case columns with one Arrow type each, so an extract and the events can be unioned and
compared without per-source code.

Null dates arrive as sentinels: the event schema's ``int`` dates use ``-2147483648``
(``int.MinValue``, as in the reference sample) and .NET writes an unset ``DateTime`` as
``0001-01-01T00:00:00``. Both become null.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from lbh_platform.common.event_state import conform_to

INT_MIN_DATE = -2147483648
DOTNET_MIN_DATE = "0001-01-01"
TIMESTAMP = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def snake_case(name: str) -> str:
    """``householdMembers`` / ``HouseholdMembers`` -> ``household_members``; ``UPRN`` -> ``uprn``.

    One rule for both sources is what makes their columns meet.
    """
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


@dataclass(frozen=True)
class Field:
    """One column (or nested field): ``kind`` is string, bool, float, int, timestamp, struct
    or list (a list of structs when ``fields`` is given)."""

    name: str
    kind: str
    fields: tuple["Field", ...] = field(default_factory=tuple)

    @property
    def arrow_type(self) -> pa.DataType:
        if self.kind == "struct":
            return pa.struct([pa.field(f.name, f.arrow_type) for f in self.fields])
        if self.kind == "list":
            return pa.list_(pa.struct([pa.field(f.name, f.arrow_type) for f in self.fields]))
        return _SCALAR_TYPES[self.kind]


_SCALAR_TYPES = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "float": pa.float64(),
    "int": pa.int64(),
    "timestamp": TIMESTAMP,
}


def _s(name: str) -> Field:
    return Field(name, "string")


def _code_description(name: str) -> Field:
    return Field(name, "struct", (_s("code"), _s("description")))


TENURE_FIELDS: tuple[Field, ...] = (
    _s("id"),
    _s("payment_reference"),
    Field(
        "household_members",
        "list",
        (
            _s("id"),
            _s("type"),
            _s("full_name"),
            Field("is_responsible", "bool"),
            Field("date_of_birth", "timestamp"),
            _s("person_tenure_type"),
        ),
    ),
    Field(
        "tenured_asset",
        "struct",
        (_s("id"), _s("type"), _s("full_address"), _s("uprn"), _s("property_reference")),
    ),
    Field(
        "charges",
        "struct",
        (
            Field("rent", "float"),
            Field("current_balance", "float"),
            _s("billing_frequency"),
            Field("service_charge", "float"),
            Field("other_charges", "float"),
            Field("combined_service_charges", "float"),
            Field("combined_rent_charges", "float"),
            Field("tenancy_insurance_charge", "float"),
            Field("original_rent_charge", "float"),
            Field("original_service_charge", "float"),
        ),
    ),
    Field("start_of_tenure_date", "timestamp"),
    Field("end_of_tenure_date", "timestamp"),
    _code_description("tenure_type"),
    Field("is_tenanted", "bool"),
    Field("is_active", "bool"),
    Field("terminated", "struct", (Field("is_terminated", "bool"), _s("reason_for_termination"))),
    Field("succession_date", "timestamp"),
    _code_description("agreement_type"),
    Field("eviction_date", "timestamp"),
    Field("potential_end_date", "timestamp"),
    Field(
        "notices",
        "list",
        (
            _s("type"),
            Field("served_date", "timestamp"),
            Field("expiry_date", "timestamp"),
            Field("effective_date", "timestamp"),
            Field("end_date", "timestamp"),
        ),
    ),
    Field("legacy_references", "list", (_s("name"), _s("value"))),
    Field("is_mutual_exchange", "bool"),
    Field("inform_housing_benefits_for_changes", "bool"),
    Field("is_sublet", "bool"),
    Field("sublet_end_date", "timestamp"),
)
ID = "id"
TENURE_COLUMNS: tuple[str, ...] = tuple(f.name for f in TENURE_FIELDS)
TENURE_SCHEMA = pa.schema([pa.field(f.name, f.arrow_type) for f in TENURE_FIELDS])


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
    """Unix seconds (int or float) or an ISO-8601 string -> an aware UTC datetime; sentinels
    (``-2147483648``, ``0001-01-01...``) and None -> None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConversionError(path, f"a boolean ({value}) is not a date")
    if isinstance(value, int | float):
        if value == INT_MIN_DATE:
            return None
        try:
            return _EPOCH + timedelta(seconds=value)
        except OverflowError as exc:
            raise ConversionError(path, f"{value} seconds is out of range") from exc
    if isinstance(value, str):
        text = value.strip()
        if not text or text.startswith(DOTNET_MIN_DATE):
            return None
        match = _ISO.match(text)
        if not match:
            raise ConversionError(path, f"{value!r} is not an ISO-8601 date")
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
        except ValueError as exc:
            raise ConversionError(path, f"{value!r} is not a valid date: {exc}") from exc
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return moment
    raise ConversionError(path, f"{type(value).__name__} {value!r} is not a date")


def _scalar(value: Any, kind: str, path: str) -> Any:
    if value is None:
        return None
    if kind == "timestamp":
        return to_timestamp(value, path)
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            return str(value).lower() if isinstance(value, bool) else str(value)
        raise ConversionError(path, f"expected text, got {type(value).__name__}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ConversionError(path, f"expected a boolean, got {value!r}")
    if kind in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConversionError(path, f"expected a number, got {value!r}")
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ConversionError(path, f"expected a whole number, got {value!r}")
            return int(value)
        return float(value)
    raise ConversionError(path, f"unknown kind {kind!r}")  # pragma: no cover


class _Converter:
    def __init__(self, strict: bool, report: Conversion):
        self.strict = strict
        self.report = report

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
            name = snake_case(str(key))
            spec = by_name.get(name)
            where = f"{path}.{name}" if path else name
            if spec is None:
                self.report.unknown(where)
                continue
            out[name] = self.value(value, spec, where)
        return out


def canonical_record(
    source: Mapping[str, Any], *, strict: bool, report: Conversion | None = None
) -> dict[str, Any]:
    """One tenure (camelCase or PascalCase keys) -> canonical snake_case values.

    Strict (events): the first value that does not fit raises ConversionError, so the event is
    quarantined. Lenient (the DynamoDB extract): the value becomes null and is counted, because
    dropping an entity from the initial state would be worse than one null field.
    """
    return _Converter(strict, report or Conversion()).record(source, TENURE_FIELDS, "")


def unmapped_top_level(source: Mapping[str, Any]) -> list[str]:
    """Source attribute names outside the canonical schema (kept in the raw extract only)."""
    return [k for k in source if snake_case(str(k)) not in TENURE_COLUMNS]


def canonical_table(records: list[dict[str, Any]]) -> pa.Table:
    """Canonical records -> a table with exactly the canonical schema (missing keys are null)."""
    if not records:
        return TENURE_SCHEMA.empty_table()
    return pa.Table.from_pylist(records, schema=TENURE_SCHEMA)


def conform(table: pa.Table, what: str) -> pa.Table:
    """Select the canonical columns in order, adding absent ones as null; types must match."""
    return conform_to(table, TENURE_SCHEMA, what)
