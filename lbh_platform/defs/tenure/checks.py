"""Partitioned tenure checks (stand-alone multi-asset checks, so automation runs them)."""

import dagster as dg

from lbh_platform.defs.common import partition_checks
from lbh_platform.defs.partitions import daily_partitions
from lbh_platform.defs.tenure.assets import asset_key
from lbh_platform.tenure import stages


def _spec(stage: str, name: str, description: str, blocking: bool = False) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name,
        asset=asset_key(stage),
        description=description,
        partitions_def=daily_partitions,
        blocking=blocking,
    )


def build_tenure_checks() -> list[dg.AssetChecksDefinition]:
    extract_ids = _spec(
        "initial_state",
        "id_unique",
        "Every DynamoDB item once, with an id (overlapping scan segments would break this).",
        blocking=True,
    )
    consistency = _spec(
        "initial_state",
        "consistent_with_snapshot",
        "The fresh extract against the newest snapshot built from events: entities missing, "
        "extra or changed (drift between DynamoDB and the applied events).",
    )
    quarantine = _spec(
        "events",
        "every_event_parsed",
        "No event of the day was quarantined (reasons per file in the metadata).",
    )
    snapshot_ids = _spec("snapshot", "id_unique", "One row per tenure id, never null.")
    unknown = _spec(
        "snapshot",
        "unknown_entity_events_reported",
        "Every event applied to an entity the state did not know (an update or deletion with "
        "no row and no tombstone) was reported, recounted from the snapshot's recorded inputs.",
    )
    rules = {
        extract_ids.key: (
            extract_ids,
            dg.AssetCheckSeverity.ERROR,
            lambda lake, value: stages.stage_id_outcome(lake, "initial_state", value),
        ),
        consistency.key: (consistency, dg.AssetCheckSeverity.WARN, stages.consistency_outcome),
        quarantine.key: (quarantine, dg.AssetCheckSeverity.WARN, stages.quarantine_outcome),
        snapshot_ids.key: (
            snapshot_ids,
            dg.AssetCheckSeverity.ERROR,
            lambda lake, value: stages.stage_id_outcome(lake, "snapshot", value),
        ),
        unknown.key: (unknown, dg.AssetCheckSeverity.ERROR, stages.unknown_events_outcome),
    }

    def build(name: str, specs: list[dg.AssetCheckSpec]) -> dg.AssetChecksDefinition:
        return partition_checks(name, [rules[s.key] for s in specs], can_subset=True)

    return [
        build("tenure_initial_state_checks", [extract_ids, consistency]),
        build("tenure_events_checks", [quarantine]),
        build("tenure_snapshot_checks", [snapshot_ids, unknown]),
    ]
