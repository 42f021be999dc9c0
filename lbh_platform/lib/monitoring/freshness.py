"""Freshness: the partition of the day must have landed by its deadline (06:00 London).

The checks are Dagster's own ``build_time_partition_freshness_checks``: each asks for the
specific partition its deadline expects, so a backfill of old days cannot make a stale table
look fresh. The 1.13 ``FreshnessPolicy`` was not used: its cron evaluator looks at the asset's
latest materialisation of any partition, which is not partition-aware.

Dagster also runs these checks in every run that materialises the asset, so a run of an older
partition reports the asset overdue while today's partition is still missing. Such a result is
not the sensor's verdict and is not alerted (see ``alerts.py``); the sensor here evaluates the
check again itself. It also evaluates a failed check again when a later deadline passes (a table
still missing the next morning is reported for that morning, and a table added after a deadline
is judged at its first deadline), which Dagster's own freshness sensor does not do.
"""

import re
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_factories.utils import (  # 1.13: no
    FRESH_UNTIL_METADATA_KEY,  # public names for the freshness results' metadata keys
    LATEST_CRON_TICK_METADATA_KEY,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    PARTITION_NAME_TAG,
    SENSOR_NAME_TAG,
)
from dagster._time import get_current_timestamp
from dagster._utils.schedules import get_latest_completed_cron_tick

from lbh_platform.common.monitoring_config import TIMEZONE, MonitoringConfig
from lbh_platform.lib.automation_defaults import MONITORING, sensor_status

FRESHNESS_CHECK = "freshness_check"  # the name Dagster's factory gives every such check
SENSOR_INTERVAL_SECONDS = 60
_EXPECTED_PARTITION = re.compile(r"expect(?:ed)? partition (\S+?) to have arrived")


def expected_partition(evaluation: dg.AssetCheckEvaluation) -> str | None:
    """The partition a freshness result expected (Dagster names it only in the description)."""
    found = _EXPECTED_PARTITION.search(evaluation.description or "")
    return found.group(1) if found else None


def judged_deadline(evaluation: dg.AssetCheckEvaluation) -> float | None:
    """The deadline (a timestamp) a freshness result judged the asset against."""
    value = evaluation.metadata.get(LATEST_CRON_TICK_METADATA_KEY)
    return float(value.value) if value is not None else None


def newest_partition(run: dg.DagsterRun) -> str | None:
    """The newest partition a run materialises (its partition, or its range's end)."""
    return run.tags.get(PARTITION_NAME_TAG) or run.tags.get(ASSET_PARTITION_RANGE_END_TAG)


def from_older_partition_run(
    evaluation: dg.AssetCheckEvaluation, run: dg.DagsterRun | None
) -> bool:
    """True when a run of partitions older than the one the result expects produced it: that
    run says nothing about whether the expected partition is late (it may be the next run)."""
    expected = expected_partition(evaluation)
    newest = newest_partition(run) if run is not None else None
    return bool(expected and newest and newest < expected)  # ISO dates sort as text


def _why_evaluate(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey, cron: str, sensor: str, now: float
) -> str | None:
    """Why the sensor should evaluate ``key`` now, or None."""
    summary = instance.event_log_storage.get_asset_check_summary_records([key])[key]
    latest = summary.last_check_execution_record
    if latest is None:
        return "never evaluated"
    completed = summary.last_completed_check_execution_record
    if latest.status == AssetCheckExecutionRecordStatus.PLANNED:
        launched = instance.get_run_record_by_id(latest.run_id)
        if completed is None or (
            launched is not None and launched.dagster_run.tags.get(SENSOR_NAME_TAG) == sensor
        ):
            return None  # an evaluation is under way: wait for it
    if completed is None or completed.event is None:
        return None
    evaluation = completed.event.asset_check_evaluation
    if evaluation is None:
        return None
    if evaluation.passed:
        fresh_until = evaluation.metadata.get(FRESH_UNTIL_METADATA_KEY)
        if fresh_until is not None and float(fresh_until.value) < now:
            return "its deadline has passed since it last passed"
        return None
    updated = instance.get_latest_materialization_event(key.asset_key)
    if updated is not None and updated.timestamp > completed.event.timestamp:
        return "the asset was updated since it failed"
    judged = judged_deadline(evaluation)
    deadline = get_latest_completed_cron_tick(cron, datetime.fromtimestamp(now, UTC), TIMEZONE)
    if judged is not None and judged < deadline.timestamp():
        return "a later deadline has passed since it failed"
    run = instance.get_run_by_id(completed.run_id)
    if from_older_partition_run(evaluation, run):
        return "it failed in a run of an older partition"
    return None


def build_freshness_sensor(
    name: str, checks: list[dg.AssetChecksDefinition], cron_by_key: Mapping[dg.AssetCheckKey, str]
) -> dg.SensorDefinition:
    """One sensor evaluating every freshness check of a source when its verdict may change."""

    @dg.sensor(
        name=name,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        asset_selection=dg.AssetSelection.checks(*checks),
        default_status=sensor_status(MONITORING),
        description="Evaluates each freshness check when it may have changed: never evaluated, "
        "a deadline passed since it passed or failed, the asset updated since it failed, or "
        "a failure that came from a run of an older partition.",
    )
    def freshness_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        now = get_current_timestamp()
        wanted = []
        for key in sorted(cron_by_key, key=lambda k: k.to_user_string()):
            why = _why_evaluate(context.instance, key, cron_by_key[key], name, now)
            if why:
                context.log.info(f"evaluating {key.to_user_string()}: {why}")
                wanted.append(key)
        if not wanted:
            return dg.SkipReason("no freshness verdict can have changed since the last one")
        return dg.RunRequest(asset_check_keys=wanted)

    return freshness_sensor


def build_freshness(
    source: str, cadence_by_asset: Mapping[dg.AssetKey, str], config: MonitoringConfig
) -> tuple[list[dg.AssetChecksDefinition], list[dg.SensorDefinition]]:
    """One freshness check per published asset (grouped by deadline) and the sensor that
    evaluates them, named ``<source>_freshness``.

    Severity WARN (Dagster's default): stale data is still readable; the alert sensor sends a
    message for every freshness failure that is the sensor's verdict, whatever its severity.
    """
    by_deadline: dict[str, list[dg.AssetKey]] = {}
    for key, cadence in cadence_by_asset.items():
        cron = config.deadline(key.to_user_string(), cadence)
        by_deadline.setdefault(cron, []).append(key)
    checks: list[dg.AssetChecksDefinition] = []
    cron_by_key: dict[dg.AssetCheckKey, str] = {}
    with warnings.catch_warnings():
        # 1.13 marks these "superseded" by FreshnessPolicy, which is not partition-aware.
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        for cron, keys in sorted(by_deadline.items()):
            built = dg.build_time_partition_freshness_checks(
                assets=keys, deadline_cron=cron, timezone=TIMEZONE
            )
            checks.extend(built)
            for definition in built:
                cron_by_key.update({spec.key: cron for spec in definition.check_specs})
    if not checks:
        return [], []
    return checks, [build_freshness_sensor(f"{source}_freshness", checks, cron_by_key)]
