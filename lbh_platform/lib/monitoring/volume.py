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
from lbh_platform.lib.wiring import PartitionRule, RecordCheck, partition_checks, partition_day

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


def volume_check(
    key: dg.AssetKey, partitions: dg.PartitionsDefinition, config: MonitoringConfig
) -> RecordCheck:
    """The ``row_count_vs_history`` check (warning) of ``key``, to ride in a check step the
    asset's source already runs (``partition_checks(..., record_checks=...)``)."""
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

    def rule(instance: dg.DagsterInstance) -> PartitionRule:
        history = row_count_history(instance, key)
        return lambda partition: _outcome(history, partition, band, weekly)

    return spec, dg.AssetCheckSeverity.WARN, rule


def build_volume_checks(
    assets: Sequence[tuple[dg.AssetKey, dg.PartitionsDefinition]],
    config: MonitoringConfig,
) -> list[dg.AssetChecksDefinition]:
    """A stand-alone volume check step for each asset whose source has no check step to
    carry it."""
    return [
        partition_checks(
            f"{'_'.join(key.path)}_volume",
            [],
            record_checks=[volume_check(key, partitions, config)],
        )
        for key, partitions in assets
    ]
