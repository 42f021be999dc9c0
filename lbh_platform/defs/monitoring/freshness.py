"""Freshness: the partition of the day must have landed by its deadline (06:00 London).

Built with Dagster's own ``build_time_partition_freshness_checks`` (it asks for the specific
partition the deadline expects, so a backfill of old days cannot make a stale table look
fresh) and run by ``build_sensor_for_freshness_checks``. The 1.13 ``FreshnessPolicy`` was not
used: its cron evaluator looks at the asset's latest materialisation of any partition, which
is not partition-aware.
"""

import warnings
from collections.abc import Mapping

import dagster as dg

from lbh_platform.common.monitoring_config import TIMEZONE, MonitoringConfig

FRESHNESS_CHECK = "freshness_check"  # the name Dagster's factory gives every such check


def build_freshness(
    source: str, cadence_by_asset: Mapping[dg.AssetKey, str], config: MonitoringConfig
) -> tuple[list[dg.AssetChecksDefinition], list[dg.SensorDefinition]]:
    """One freshness check per published asset (grouped by deadline) and the sensor that
    evaluates them, named ``<source>_freshness``.

    Severity WARN (Dagster's default): stale data is still readable; the alert sensor sends a
    message for every freshness failure whatever its severity. Dagster also runs these checks
    in every run that materialises the asset (that is how a failed check recovers), so a run
    of an older partition reports the asset as overdue while today's partition is missing.
    """
    by_deadline: dict[str, list[dg.AssetKey]] = {}
    for key, cadence in cadence_by_asset.items():
        cron = config.deadline(key.to_user_string(), cadence)
        by_deadline.setdefault(cron, []).append(key)
    checks: list[dg.AssetChecksDefinition] = []
    with warnings.catch_warnings():
        # 1.13 marks these "superseded" by FreshnessPolicy, which is not partition-aware.
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        for cron, keys in sorted(by_deadline.items()):
            checks.extend(
                dg.build_time_partition_freshness_checks(
                    assets=keys,
                    deadline_cron=cron,
                    timezone=TIMEZONE,
                )
            )
        if not checks:
            return [], []
        sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name=f"{source}_freshness",
            default_status=dg.DefaultSensorStatus.RUNNING,
        )
    return checks, [sensor]
