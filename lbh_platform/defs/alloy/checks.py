"""Partitioned checks per Alloy dataset: snapshot keys unique and complete; the root export's
row count against the task's, and each Item ID in it once."""

import dagster as dg

from lbh_platform.alloy import stages
from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.common.monitoring_config import MonitoringConfig
from lbh_platform.defs.alloy.assets import asset_key
from lbh_platform.defs.common import partition_checks
from lbh_platform.defs.monitoring.volume import volume_check
from lbh_platform.defs.partitions import daily_partitions


def build_dataset_checks(
    dataset: AlloyDataset, monitoring: MonitoringConfig
) -> list[dg.AssetChecksDefinition]:
    """Export and snapshot checks, one step each; every exported table's volume check rides
    in the export step."""

    def spec(key: dg.AssetKey, name: str, description: str) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(
            name, asset=key, description=description, partitions_def=daily_partitions
        )

    root_export = asset_key("api_response", dataset.name, dataset.name)
    count_spec = spec(
        root_export,
        "row_count_matches_task",
        "The exported CSV has as many rows as the export task reported (when it reports one).",
    )
    ids_spec = spec(
        root_export,
        "item_ids_unique_in_export",
        "Each Item ID appears once in the exported CSV (a repeat is resolved to the item's "
        "newest edit in the snapshot, and counted here).",
    )
    key_specs = {
        table: spec(
            asset_key("snapshot", dataset.name, table),
            "key_unique_and_complete",
            f"{', '.join(stages.key_columns(dataset, table))} unique and never null.",
        )
        for table in dataset.tables
    }

    inputs_specs = {
        table: dg.AssetCheckSpec(
            "inputs_applied",
            asset=asset_key("snapshot", dataset.name, table),
            description="Every export since the base snapshot is applied, each as it is now, "
            "on a base that is itself current. Blocking: a snapshot missing one is wrong.",
            partitions_def=daily_partitions,
            blocking=True,
        )
        for table in dataset.tables
    }

    def inputs_rule(table: str):
        return lambda lake, value: stages.inputs_outcome(lake, dataset, table, value)

    def key_rule(table: str):
        keys = stages.key_columns(dataset, table)
        return lambda lake, value: stages.key_outcome(
            lake.alloy("snapshot", dataset.name, table).read(value, columns=keys), keys
        )

    export_checks = partition_checks(
        f"alloy_export_{dataset.name}_checks",
        [
            (
                count_spec,
                dg.AssetCheckSeverity.WARN,
                lambda lk, value: stages.export_count_outcome(lk, dataset, value),
            ),
            (
                ids_spec,
                dg.AssetCheckSeverity.WARN,
                lambda lk, value: stages.export_ids_outcome(lk, dataset, value),
            ),
        ],
        record_checks=[
            volume_check(
                asset_key("api_response", dataset.name, table), daily_partitions, monitoring
            )
            for table in dataset.tables
        ],
    )
    snapshot_checks = partition_checks(
        f"alloy_snapshot_{dataset.name}_checks",
        [
            *((s, dg.AssetCheckSeverity.ERROR, key_rule(t)) for t, s in key_specs.items()),
            *((s, dg.AssetCheckSeverity.ERROR, inputs_rule(t)) for t, s in inputs_specs.items()),
        ],
        can_subset=True,
    )
    return [export_checks, snapshot_checks]
