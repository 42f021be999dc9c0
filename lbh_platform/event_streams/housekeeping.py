"""An event-streamed entity's housekeeping: its snapshots for retention (known to the
retention file as ``event_streams/<entity>``), and its stages, raw event files first and the
history last, for erasure by the entity's key or a nested field."""

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.erasure import FileTarget, Locator, TableTarget
from lbh_platform.erasure.paths import FieldPath, Step, parse_path
from lbh_platform.erasure.targets import Target
from lbh_platform.event_streams import inputs
from lbh_platform.event_streams.history import history_of
from lbh_platform.event_streams.inputs import BASE_KEY, Base
from lbh_platform.event_streams.locations import stage_table
from lbh_platform.event_streams.sink import EventFiles
from lbh_platform.event_streams.spec import EventStream
from lbh_platform.retention import recorded_base_guard
from lbh_platform.retention.policy import Guard
from lbh_platform.retention.tables import SnapshotTable
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import PartitionedTable

SOURCE = "event_streams"


def snapshot_tables(lake: Lake, stream: EventStream) -> list[SnapshotTable]:
    def guard(table: PartitionedTable) -> Guard:
        def recorded(value: str) -> str | None:
            base = Base.parse(table.file_metadata(value).get(BASE_KEY, ":"))
            return base.value if base.stage == "snapshot" else None

        return recorded_base_guard(recorded)

    snapshots = stage_table(lake, stream, "snapshot")
    events = stage_table(lake, stream, "events")
    return [
        SnapshotTable(SOURCE, stream.name, snapshots, events.partitions, lambda: guard(snapshots))
    ]


def raw_event_path(stream: EventStream, path: FieldPath) -> FieldPath:
    """A canonical field path as the raw events spell it (the Avro names, under the
    envelope's entity field): ``household_members[].id`` -> ``Tenure.HouseholdMembers[].Id``."""
    fields = stream.schema.fields
    steps = [Step(stream.entity_field)]
    for step in path.steps:
        found = next((f for f in fields if f.name == step.name), None)
        if found is None:
            raise ConfigurationError(
                f"{stream.label}: no field {step.name!r} at {path} (fields: "
                f"{', '.join(f.name for f in fields)})"
            )
        steps.append(Step(found.source_name, step.each))
        fields = found.fields
    return FieldPath(tuple(steps))


def stream_targets(lake: Lake, stream: EventStream, path: str | None = None) -> list[Target]:
    """The entity's stages, raw event files first, by its key or a field (``path``)."""
    located = parse_path(path or stream.key, f"{stream.label} --column")
    raw = raw_event_path(stream, located)
    files = EventFiles(lake, stream.topic)
    column = Locator(located)

    def raw_files_now(value: str, notes: dict[str, str]) -> dict[str, str]:
        # The events partition records the raw files it was compacted from; after the
        # erasure removed or rewrote some, it records them as they are now (not stale).
        return inputs.raw_record(files.files(value))

    history = history_of(lake, stream)
    by_key = str(located) == stream.key
    targets: list[Target] = [
        FileTarget("raw events", files, Locator(raw, remove=column.removes)),
        TableTarget("initial_state", stage_table(lake, stream, "initial_state"), column),
        TableTarget(
            "events",
            stage_table(lake, stream, "events"),
            column,
            ("raw events",),
            restate=raw_files_now,
        ),
        TableTarget(
            "events_quarantine",
            stage_table(lake, stream, "events_quarantine"),
            Locator(raw, "content", column.removes),
        ),
        TableTarget("snapshot", stage_table(lake, stream, "snapshot"), column),
    ]
    if by_key:
        targets.append(
            TableTarget("deletions", stage_table(lake, stream, "deletions"), Locator.of("id"))
        )
    # The history and the snapshot changes it is kept from: rewritten where they hold the
    # key; the next history run recomputes the changes of the snapshots re-written.
    targets.append(TableTarget("history changes", history.changes, column))
    if by_key:
        targets.append(TableTarget("history deleted", history.deleted, column))
    targets.append(TableTarget("history", history.history, column))
    return targets


def event_stream_targets(lake: Lake, entity: str, path: str | None = None) -> list[Target]:
    """As :func:`stream_targets`, for the configured entity named ``entity``."""
    from lbh_platform.event_streams.spec import stream_named

    return stream_targets(lake, stream_named(entity), path)
