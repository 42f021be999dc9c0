"""An entity's canonical fields derived from its topic's Avro schema (the data contract).

The schema's top-level record is the MTFH event envelope (``ENVELOPE``: ``Id``, ``EventType``,
``DateTime``...) plus one field holding the entity (``Tenure``, ``ContactDetails``). That
field's record becomes the entity's columns, named by :func:`snake_case`:

- records -> structs; arrays -> lists (of structs, or of scalars);
- a union with ``"null"`` -> a nullable field of the other branch (a union of two non-null
  types has no single column type and is refused);
- enums -> text (their symbols are kept for the generator);
- ``string`` -> text, ``boolean`` -> bool, ``float``/``double`` -> float64, ``int``/``long``
  -> int64;
- an ``int``/``long`` marked ``"logicalType": "date"`` (on the field or its type) is Unix
  seconds, as the producers send it (the samples' ``968630400`` is 2000-09-11), and becomes a
  UTC timestamp, the ``-2147483648`` sentinel null.

Named types may be referred to by name after their definition, as Avro allows.
"""

import json
from pathlib import Path
from typing import Any

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.event_streams.schema import EntitySchema, Field, snake_case

# The MTFH event envelope every topic shares, in the events table as fixed header columns.
ENVELOPE = (
    "Id",
    "EventType",
    "SourceDomain",
    "SourceSystem",
    "Version",
    "CorrelationId",
    "DateTime",
    "User",
)
REQUIRED_ENVELOPE = ("Id", "EventType", "DateTime")
_PRIMITIVES = {
    "string": "string",
    "boolean": "bool",
    "float": "float",
    "double": "float",
    "int": "int",
    "long": "int",
}


def load_avro(path: Path) -> dict[str, Any]:
    """The Avro schema document at ``path`` (JSON), or a ConfigurationError naming it."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"Avro schema {path}: cannot read it: {exc}") from exc
    if not isinstance(document, dict) or document.get("type") != "record":
        raise ConfigurationError(f"Avro schema {path}: the top level must be a record")
    return document


class _Walker:
    def __init__(self, where: str):
        self.where = where
        self.named: dict[str, Any] = {}

    def fail(self, path: str, reason: str) -> ConfigurationError:
        return ConfigurationError(f"{self.where}: {path}: {reason}")

    def resolve(self, avro: Any, path: str) -> Any:
        if isinstance(avro, str) and avro not in _PRIMITIVES and avro != "null":
            if avro not in self.named:
                raise self.fail(path, f"type {avro!r} is not defined before it is used")
            return self.named[avro]
        if isinstance(avro, dict) and avro.get("type") in ("record", "enum", "fixed"):
            name = avro.get("name")
            if isinstance(name, str):
                self.named[name] = avro
                if "namespace" in avro:
                    self.named[f"{avro['namespace']}.{name}"] = avro
        return avro

    def field(self, spec: Any, path: str) -> Field:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise self.fail(path, f"a field needs a name and a type, got {spec!r}")
        source = spec["name"]
        name = snake_case(source)
        if not name:
            raise self.fail(path, f"field name {source!r} gives no column name")
        where = f"{path}.{source}" if path else source
        avro, nullable = self.unwrap(spec.get("type"), where)
        date = spec.get("logicalType") == "date" or (
            isinstance(avro, dict) and avro.get("logicalType") == "date"
        )
        return self.typed(avro, name, source, nullable, date, where)

    def unwrap(self, avro: Any, path: str) -> tuple[Any, bool]:
        """(the non-null branch, nullable) of a type or a union."""
        if isinstance(avro, list):
            branches = [b for b in avro if b != "null"]
            if len(branches) != 1:
                raise self.fail(
                    path, f"a union of {len(branches)} non-null types has no single column type"
                )
            return self.resolve(branches[0], path), len(branches) < len(avro)
        if avro is None:
            raise self.fail(path, "no type")
        return self.resolve(avro, path), False

    def typed(
        self, avro: Any, name: str, source: str, nullable: bool, date: bool, path: str
    ) -> Field:
        kind_of = avro.get("type") if isinstance(avro, dict) else avro
        if isinstance(kind_of, str) and kind_of in _PRIMITIVES and isinstance(avro, dict):
            avro = kind_of  # {"type": "int", "logicalType": ...}
        if isinstance(avro, str):
            kind = _PRIMITIVES.get(avro)
            if kind is None:
                raise self.fail(path, f"type {avro!r} is not supported")
            if date:
                if kind != "int":
                    raise self.fail(path, f"a date must be an int or long, got {avro!r}")
                kind = "timestamp"
            return Field(name, kind, source=source, nullable=nullable)
        if kind_of == "enum":
            symbols = tuple(str(s) for s in avro.get("symbols", ()))
            return Field(name, "string", source=source, nullable=nullable, symbols=symbols)
        if kind_of == "record":
            fields = self.record(avro, path)
            return Field(name, "struct", fields, source=source, nullable=nullable)
        if kind_of == "array":
            items, _ = self.unwrap(avro.get("items"), f"{path}[]")
            item = self.typed(items, name, source, True, False, f"{path}[]")
            if item.kind == "list":
                raise self.fail(path, "a list of lists is not supported")
            if item.kind == "struct":
                return Field(name, "list", item.fields, source=source, nullable=nullable)
            symbols = item.symbols
            return Field(
                name, "list", source=source, item=item.kind, nullable=nullable, symbols=symbols
            )
        raise self.fail(
            path, f"type {kind_of!r} is not supported (records, arrays, enums and primitives are)"
        )

    def record(self, avro: dict, path: str) -> tuple[Field, ...]:
        fields = avro.get("fields")
        if not isinstance(fields, list):
            raise self.fail(path or "top level", "a record needs a list of fields")
        out = [self.field(f, path) for f in fields]
        names = [f.name for f in out]
        clashing = sorted({n for n in names if names.count(n) > 1})
        if clashing:
            raise self.fail(path or "top level", f"fields {clashing} meet in one column name")
        return tuple(out)


def entity_fields(avro: dict[str, Any], entity_field: str, where: str) -> tuple[Field, ...]:
    """The entity record's canonical fields; the envelope is checked to be the MTFH one."""
    walker = _Walker(where)
    top = {f.get("name"): f for f in avro.get("fields", []) if isinstance(f, dict)}
    missing = [n for n in (*REQUIRED_ENVELOPE, entity_field) if n not in top]
    if missing:
        raise ConfigurationError(f"{where}: the event record lacks {missing}")
    others = sorted(n for n in top if n not in ENVELOPE and n != entity_field)
    if others:
        raise ConfigurationError(
            f"{where}: top-level fields {others} are neither the event envelope "
            f"{list(ENVELOPE)} nor the entity field {entity_field!r}"
        )
    for name in ENVELOPE:  # register the envelope's named types (User) in order
        if name in top:
            walker.unwrap(top[name].get("type"), name)
    entity, _ = walker.unwrap(top[entity_field].get("type"), entity_field)
    if not isinstance(entity, dict) or entity.get("type") != "record":
        raise ConfigurationError(f"{where}: {entity_field} must be a record")
    return walker.record(entity, "")


def entity_schema(
    avro: dict[str, Any], entity_field: str, key: str, entity: str, where: str
) -> EntitySchema:
    fields = entity_fields(avro, entity_field, where)
    by_name = {f.name: f for f in fields}
    if key not in by_name or by_name[key].kind != "string":
        raise ConfigurationError(
            f"{where}: key {key!r} must be a text field of {entity_field} "
            f"(fields: {sorted(by_name)})"
        )
    return EntitySchema(entity, fields, key)
