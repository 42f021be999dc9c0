"""Partitioned asset checks per table, replacing the original's PyDeequ runs.

Stand-alone ``@multi_asset_check``s with ``partitions_def`` (not in-asset check specs), so
results show per partition and automation keeps them (see DAGSTER-NOTES.md). A ranged run
(the snapshot backfill) gets one evaluation per partition in the range.
"""

import dagster as dg

from lbh_platform.common.monitoring_config import MonitoringConfig
from lbh_platform.defs.common import partition_checks
from lbh_platform.defs.monitoring.volume import volume_check
from lbh_platform.defs.partitions import partitions_for
from lbh_platform.defs.tascomi.assets import asset_key
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi import quality, stages
from lbh_platform.tascomi.tables import TascomiTable


def build_table_checks(
    table: TascomiTable, column_types: dict[str, str], monitoring: MonitoringConfig
) -> list[dg.AssetChecksDefinition]:
    """The table's quality checks, one step per stage; the volume checks of ``api_response``
    and ``increment`` ride in the parsed and increment steps (no step of their own)."""
    partitions = partitions_for(table.cadence)
    name = table.name
    raw_key, parsed_key, increment_key, snapshot_key = (
        asset_key(stage, name) for stage in ("api_response", "parsed", "increment", "snapshot")
    )
    id_col = table.id_column
    types = column_types if table.recast else {}

    def spec(key: dg.AssetKey, check: str, description: str, blocking: bool = False):
        return dg.AssetCheckSpec(
            check,
            asset=key,
            description=description,
            blocking=blocking,
            partitions_def=partitions,
        )

    unique_spec = spec(
        parsed_key,
        "id_import_date_unique",
        f"({id_col}, import_date) is unique. Blocking: a failure stops increment and snapshot.",
        blocking=True,
    )
    complete_spec = spec(
        parsed_key,
        f"{table.completeness_column}_complete",
        f"{table.completeness_column} is at least 99% non-null.",
    )

    def parsed_rows(lake: Lake, value: str):
        return lake.tascomi("parsed", name).read(
            value, columns=[id_col, "import_date", table.completeness_column]
        )

    parsed_checks = partition_checks(
        f"tascomi_parsed_{name}_checks",
        [
            (
                unique_spec,
                dg.AssetCheckSeverity.ERROR,
                lambda lk, v: quality.uniqueness(parsed_rows(lk, v), [id_col, "import_date"]),
            ),
            (
                complete_spec,
                dg.AssetCheckSeverity.WARN,
                lambda lk, v: quality.completeness(parsed_rows(lk, v), table.completeness_column),
            ),
        ],
        record_checks=[volume_check(raw_key, partitions, monitoring)],
    )

    cast_spec = spec(
        increment_key,
        "no_cast_failures",
        "Every catalogue value could be cast (failures are null and counted).",
    )
    drift_spec = spec(
        increment_key,
        "catalogue_drift",
        "No catalogue column is missing and no column is new since the previous increment.",
    )
    types_spec = spec(
        increment_key,
        "column_types_match_catalogue",
        "Pandera: every catalogue column present has its catalogue type.",
    )

    ids_spec = spec(
        increment_key,
        f"{id_col}_survives_cast",
        f"Every {id_col} is kept as itself by the catalogue's cast (none merged with another "
        "or nulled). Blocking: such an increment would lose or merge records in the snapshot.",
        blocking=True,
    )

    def cast_rule(lake: Lake, value: str) -> quality.RuleOutcome:
        by_column = stages.cast_failures(lake, name, value)
        total = sum(by_column.values())
        return quality.RuleOutcome(
            total == 0,
            "no cast failures" if not total else f"{total} values could not be cast (now null)",
            {
                "cast_failures_total": total,
                "cast_failures_by_column": dg.MetadataValue.json(by_column),
            },
        )

    def drift_rule(lake: Lake, value: str) -> quality.RuleOutcome:
        store = lake.tascomi("increment", name)
        current = store.read(value)
        if current.num_rows == 0:
            return quality.RuleOutcome(True, "no rows", {"rows": 0})
        columns = set(current.column_names)
        missing = sorted(c for c in types if c not in columns)
        before_value = store.latest_before(value)
        new: list[str] = []
        gone: list[str] = []
        if before_value is not None:
            previous = store.read(before_value)
            if previous.num_rows:
                before = set(previous.column_names)
                new, gone = sorted(columns - before), sorted(before - columns)
        passed = not (missing or new or gone)
        return quality.RuleOutcome(
            passed,
            "no drift"
            if passed
            else f"{len(missing)} catalogue columns missing, {len(new)} new, {len(gone)} gone",
            {"catalogue_columns_missing": missing, "new_columns": new, "columns_gone": gone},
        )

    increment_checks = partition_checks(
        f"tascomi_increment_{name}_checks",
        [
            (
                ids_spec,
                dg.AssetCheckSeverity.ERROR,
                lambda lk, v: stages.lost_ids_outcome(lk, table, v),
            ),
            (cast_spec, dg.AssetCheckSeverity.WARN, cast_rule),
            (drift_spec, dg.AssetCheckSeverity.WARN, drift_rule),
            (
                types_spec,
                dg.AssetCheckSeverity.ERROR,
                lambda lk, v: quality.validate_types(lk.tascomi("increment", name).read(v), types),
            ),
        ],
        record_checks=[volume_check(increment_key, partitions, monitoring)],
    )

    snapshot_spec = spec(snapshot_key, f"{id_col}_unique", f"{id_col} is unique in the snapshot.")
    inputs_spec = spec(
        snapshot_key,
        "inputs_applied",
        "Every import between the base snapshot and this one is applied, each as it is now, "
        "on a base that is itself current. Blocking: a snapshot missing an import is wrong.",
        blocking=True,
    )

    snapshot_checks = partition_checks(
        f"tascomi_snapshot_{name}_checks",
        [
            (
                snapshot_spec,
                dg.AssetCheckSeverity.ERROR,
                lambda lk, v: quality.uniqueness(
                    lk.tascomi("snapshot", name).read(v, columns=[id_col]), [id_col]
                ),
            ),
            (
                inputs_spec,
                dg.AssetCheckSeverity.ERROR,
                lambda lk, v: stages.inputs_outcome(lk, table, v),
            ),
        ],
    )

    return [parsed_checks, increment_checks, snapshot_checks]
