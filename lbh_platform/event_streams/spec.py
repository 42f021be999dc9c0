"""Event-streamed entities as configuration: one typed :class:`EventStream` per entry of
``config/event_streams.yaml``.

An entry names the Kafka topic, the Avro schema file (the data contract, under
``config/event_streams/``), the envelope field holding the entity, its key, the event types and
what each does, the DynamoDB table of the initial state, where its stages are stored, and
which of its fields hold personal data (``personal_data``: field paths over the entity's
columns, checked against the schema when loaded). The
typed columns, the compacted events schema and the apply model are derived from the Avro schema;
nothing else is per entity. Every entry is validated when the file is loaded, so a bad entry
fails the load with the file and the entry named.
"""

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.event_state import EventModel
from lbh_platform.common.yaml_loader import load_yaml
from lbh_platform.config import CONFIG_DIR
from lbh_platform.erasure.personal import PersonalData, parse_personal_data
from lbh_platform.event_streams.avro import entity_schema, load_avro
from lbh_platform.event_streams.schema import EntitySchema

DEFAULT_CONFIG = CONFIG_DIR / "event_streams.yaml"
STAGES: tuple[str, ...] = ("initial_state", "events", "events_quarantine", "snapshot", "deletions")
Action = Literal["created", "updated", "deleted"]
EVENT_PERSONAL_COLUMNS = ("user_name", "user_email")  # the envelope's User, in every event
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_\-]*(/[a-z0-9][a-z0-9_\-]*)*$")


class _DynamoEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    attributes: dict[str, str] = {}


class _Entry(BaseModel):
    """One entry as written in the YAML file (validated, then made an :class:`EventStream`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str
    schema_file: str
    entity_field: str
    key: str = "id"
    key_format: Literal["uuid", "text"] = "uuid"
    actions: dict[str, Action]
    dynamodb: _DynamoEntry
    table: str
    raw_prefix: str
    refined_prefix: str
    department: str = "housing"
    catalog_names: dict[str, str] = {}
    personal_data: list[str] | None = None

    @field_validator("table", "key")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(f"must be a lower-case identifier, got {value!r}")
        return value

    @field_validator("raw_prefix", "refined_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError(f"must be a relative path of lower-case folders, got {value!r}")
        return value

    @field_validator("catalog_names")
    @classmethod
    def _stages(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(STAGES))
        if unknown:
            raise ValueError(f"unknown stages {unknown}; stages are {list(STAGES)}")
        return value


@dataclass(frozen=True)
class EventStream:
    """One event-streamed entity: everything its pipeline needs, typed.

    ``name`` is its source's name: it prefixes its asset keys, group, pool, jobs, sensors and
    environment variables (``<NAME>_DYNAMODB_TABLE``...).
    """

    name: str
    topic: str
    schema_path: Path
    entity_field: str
    key: str
    key_format: str
    actions: dict[str, str]
    dynamodb_table: str
    dynamodb_attributes: dict[str, str]
    table: str
    raw_prefix: str
    refined_prefix: str
    department: str
    catalog_names: dict[str, str] = field(default_factory=dict)
    personal_data: PersonalData = field(default_factory=PersonalData)

    @cached_property
    def avro(self) -> dict:
        return load_avro(self.schema_path)

    @cached_property
    def schema(self) -> EntitySchema:
        return entity_schema(
            self.avro, self.entity_field, self.key, self.name, f"{self.name} ({self.schema_path})"
        )

    @property
    def label(self) -> str:
        """How messages name the entity ("contact details")."""
        return self.name.replace("_", " ")

    @property
    def env_prefix(self) -> str:
        return self.name.upper()

    def catalog_name(self, stage: str) -> str:
        defaults = {
            "initial_state": self.table,
            "events": f"{self.name}_events",
            "events_quarantine": f"{self.name}_events_quarantine",
            "snapshot": self.table,
            "deletions": f"{self.name}_deletions",
        }
        return self.catalog_names.get(stage, defaults[stage])

    def personal(self, stage: str = "snapshot") -> PersonalData:
        """A stage's personal columns: the entity's declared fields; the events also carry
        who made each change (``user_name``, ``user_email``), and the quarantine each
        unusable event's raw ``content``."""
        if stage not in STAGES:
            raise KeyError(f"{self.name}: unknown stage {stage!r}; stages are {list(STAGES)}")
        if stage == "events":
            return self.personal_data.with_columns(*EVENT_PERSONAL_COLUMNS)
        if stage == "events_quarantine":
            return PersonalData().with_columns("content")
        return self.personal_data

    @cached_property
    def event_schema(self) -> pa.Schema:
        from lbh_platform.event_streams.events import event_schema

        return event_schema(self.schema)

    @cached_property
    def model(self) -> EventModel:
        from lbh_platform.event_streams.events import ORDER

        return EventModel(
            entity=self.name,
            id_column=self.key,
            entity_schema=self.schema.arrow_schema,
            event_schema=self.event_schema,
            order=tuple((name, direction) for name, direction, _ in ORDER),
        )

    def __hash__(self) -> int:
        return hash(self.name)


def load_event_streams(path: Path | str = DEFAULT_CONFIG) -> list[EventStream]:
    """Every entry of the file, validated, with its schema derived (schema files are relative
    to the config file's folder)."""
    from lbh_platform.event_streams.settings import declare_stream_settings

    path = Path(path)
    document = load_yaml(path)
    entries = (document or {}).get("entities") if isinstance(document, dict) else None
    if not isinstance(entries, dict):
        raise ConfigurationError(f"{path}: expected a mapping 'entities: {{<name>: {{...}}}}'")
    streams = [_stream(name, entry, path) for name, entry in entries.items()]
    for stream in streams:
        declare_stream_settings(stream, shipped=path.resolve() == DEFAULT_CONFIG.resolve())
    topics = [s.topic for s in streams]
    repeated = sorted({t for t in topics if topics.count(t) > 1})
    if repeated:
        raise ConfigurationError(f"{path}: topics {repeated} are configured more than once")
    return streams


def _stream(name: object, entry: object, path: Path) -> EventStream:
    where = f"{path} entity {name!r}"
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ConfigurationError(f"{where}: the name must be a lower-case identifier")
    try:
        parsed = _Entry.model_validate(entry)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"{where}: {problems}") from exc
    stream = EventStream(
        name=name,
        topic=parsed.topic,
        schema_path=(path.parent / parsed.schema_file).resolve(),
        entity_field=parsed.entity_field,
        key=parsed.key,
        key_format=parsed.key_format,
        actions=dict(parsed.actions),
        dynamodb_table=parsed.dynamodb.table,
        dynamodb_attributes=dict(parsed.dynamodb.attributes),
        table=parsed.table,
        raw_prefix=parsed.raw_prefix,
        refined_prefix=parsed.refined_prefix,
        department=parsed.department,
        catalog_names=dict(parsed.catalog_names),
        personal_data=parse_personal_data(parsed.personal_data, where),
    )
    stream.event_schema  # noqa: B018 - derive the schemas now: a bad schema fails the load
    stream.personal_data.check(stream.schema.arrow_schema, where)
    return stream


def stream_named(name: str, streams: list[EventStream] | None = None) -> EventStream:
    for stream in streams if streams is not None else load_event_streams():
        if stream.name == name:
            return stream
    raise KeyError(f"no event-streamed entity {name!r}")
