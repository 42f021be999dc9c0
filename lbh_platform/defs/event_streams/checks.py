"""An event-streamed entity's partitioned checks (stand-alone multi-asset checks, so
automation runs them), from the rules of :mod:`lbh_platform.event_streams.rules`."""

import dagster as dg

from lbh_platform.defs.common import partition_checks
from lbh_platform.defs.event_streams.assets import asset_key
from lbh_platform.defs.partitions import daily_partitions
from lbh_platform.event_streams import rules
from lbh_platform.event_streams.spec import EventStream

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def build_checks(stream: EventStream) -> list[dg.AssetChecksDefinition]:
    def spec(stage: str, name: str, description: str, blocking: bool = False):
        return dg.AssetCheckSpec(
            name,
            asset=asset_key(stream, stage),
            description=description,
            partitions_def=daily_partitions,
            blocking=blocking,
        )

    label = stream.label
    checks = {
        "initial_state": [
            (
                spec(
                    "initial_state",
                    "id_unique",
                    "Every DynamoDB item once, with an id (overlapping scan segments would break "
                    "this).",
                    blocking=True,
                ),
                ERROR,
                lambda lake, value: rules.stage_id_outcome(lake, stream, "initial_state", value),
            ),
            (
                spec(
                    "initial_state",
                    "consistent_with_snapshot",
                    "The fresh extract against the newest snapshot built from events: entities "
                    "missing, extra or changed (drift between DynamoDB and the applied events).",
                ),
                WARN,
                lambda lake, value: rules.consistency_outcome(lake, stream, value),
            ),
        ],
        "events": [
            (
                spec(
                    "events",
                    "every_event_parsed",
                    "No event of the day was quarantined (reasons per file in the metadata).",
                ),
                WARN,
                lambda lake, value: rules.quarantine_outcome(lake, stream, value),
            ),
            (
                spec(
                    "events",
                    "raw_files_compacted",
                    "The day's raw event files (both folder layouts) are the ones compacted: same "
                    "count and newest file time, every event read accounted for. Fails when files "
                    "landed after the compaction (compact the day again).",
                    blocking=True,
                ),
                ERROR,
                lambda lake, value: rules.raw_files_outcome(lake, stream, value),
            ),
            (
                spec(
                    "events",
                    "every_field_in_schema",
                    f"Every field of the day's {label} events is in the configured Avro schema "
                    "(a newer schema version's fields are counted here, not stored).",
                ),
                WARN,
                lambda lake, value: rules.fields_outcome(lake, stream, value),
            ),
        ],
        "snapshot": [
            (
                spec("snapshot", "id_unique", f"One row per {label} id, never null."),
                ERROR,
                lambda lake, value: rules.stage_id_outcome(lake, stream, "snapshot", value),
            ),
            (
                spec(
                    "snapshot",
                    "unknown_entity_events_reported",
                    "Every event applied to an entity the state did not know (an update or "
                    "deletion with no row and no tombstone) was reported, recounted from the "
                    "snapshot's recorded inputs.",
                ),
                ERROR,
                lambda lake, value: rules.unknown_events_outcome(lake, stream, value),
            ),
            (
                spec(
                    "snapshot",
                    "every_event_applied",
                    "The snapshot proves its inputs: its base and every events partition of its "
                    "window are applied as they are now (no raw folder uncompacted, none "
                    "compacted again since, no late files left out).",
                    blocking=True,
                ),
                ERROR,
                lambda lake, value: rules.inputs_outcome(lake, stream, value),
            ),
        ],
    }
    return [
        partition_checks(f"{stream.name}_{stage}_checks", specs, can_subset=True)
        for stage, specs in checks.items()
    ]
