"""Volume anomalies: each partition's row count against the same asset's history.

The history is Dagster's own record of ``dagster/row_count`` per materialised partition (the
newest materialisation of each), read when the check runs, so no side file can drift from
what the UI shows. The rule itself is :mod:`lbh_platform.common.volume`.
"""

from collections.abc import Sequence

import dagster as dg

from lbh_platform.common.monitoring_config import MonitoringConfig
from lbh_platform.common.quality import RuleOutcome
from lbh_platform.common.volume import comparable_history, volume_outcome
from lbh_platform.defs.common import evaluate_partition_rules, partition_day

VOLUME_CHECK = "row_count_vs_history"
HISTORY_RECORDS = 2000  # newest materialisations read per run: years of daily partitions


def row_count_history(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, int]:
    """Row count of every materialised partition, from its newest materialisation."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key), limit=HISTORY_RECORDS
    ).records
    counts: dict[str, int] = {}
    for record in records:  # newest first
        materialization = record.asset_materialization
        if materialization is None or record.partition_key in counts:
            continue
        value = materialization.metadata.get("dagster/row_count")
        if value is not None and record.partition_key is not None:
            counts[record.partition_key] = int(value.value)
    return counts


def _outcome(history: dict[str, int], key: str, band, weekly: bool) -> RuleOutcome:
    if key not in history:
        return RuleOutcome(False, f"no row count recorded for partition {key}", {})
    by_day = {partition_day(k): rows for k, rows in history.items()}
    earlier = comparable_history(by_day, partition_day(key), band, weekly)
    return volume_outcome(history[key], earlier, band)


def build_volume_checks(
    assets: Sequence[tuple[dg.AssetKey, dg.TimeWindowPartitionsDefinition]],
    config: MonitoringConfig,
) -> list[dg.AssetChecksDefinition]:
    """A partitioned ``row_count_vs_history`` check (warning) on each asset."""
    return [_volume_check(key, partitions, config) for key, partitions in assets]


def _volume_check(
    key: dg.AssetKey, partitions: dg.TimeWindowPartitionsDefinition, config: MonitoringConfig
) -> dg.AssetChecksDefinition:
    band = config.band(key.to_user_string())
    weekly = isinstance(partitions, dg.WeeklyPartitionsDefinition)
    spec = dg.AssetCheckSpec(
        VOLUME_CHECK,
        asset=key,
        partitions_def=partitions,
        description=(
            f"Row count within {band.lower:g}x..{band.upper:g}x the median of the last "
            f"{band.window} partitions of the same "
            f"{'cadence' if weekly else 'day type (weekday/weekend)'}; warns on zero rows "
            f"where history has some. Needs {band.min_history} earlier partitions."
        ),
    )

    @dg.multi_asset_check(specs=[spec], name=f"{'_'.join(key.path)}_volume", can_subset=False)
    def volume_check(context: dg.AssetCheckExecutionContext):
        history = row_count_history(context.instance, key)
        yield from evaluate_partition_rules(
            context,
            [(spec, dg.AssetCheckSeverity.WARN, lambda k: _outcome(history, k, band, weekly))],
        )

    return volume_check
