"""Alert sensors: a failed run, and a failed blocking / ERROR / freshness check, each post one
message to the webhook in ``LBH_ALERT_WEBHOOK_URL`` (or log what they would post).

One message per failure, not per retry: a run that Dagster's run-retry machinery will retry
(tag ``dagster/will_retry=true``) is not reported, its final attempt is; check failures are
remembered by (check, partition, root run), so a retried run's second failure of the same
check is not sent again. A run that failed only because blocking checks failed is reported by
the check sensor (which names the check and partition), not twice. Message text and delivery
live in :mod:`lbh_platform.common.alerts`.

A freshness failure is alerted only when it is the asset's verdict: not when a later evaluation
of the check has superseded it (the partition landed since, e.g. ``make run``'s runs of earlier
days followed by today's), not when a run of an older partition produced it (the freshness
sensor evaluates such a failure again itself), and not for a deadline that passed before the
asset, never materialised, was first seen (a table added at 14:00 is first due at the next
deadline; a fresh deployment at its first one). The check sensor's cursor keeps when it first
saw each asset with a freshness check.
"""

import json
import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_factories.utils import (
    LAST_UPDATED_TIMESTAMP_METADATA_KEY,  # set on a failure when the asset has any record
)
from dagster._core.storage.tags import (  # no public aliases in 1.13
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    MAX_RETRIES_TAG,
    PARTITION_NAME_TAG,
    RETRY_NUMBER_TAG,
    ROOT_RUN_ID_TAG,
    WILL_RETRY_TAG,
)
from dagster._time import get_current_timestamp

from lbh_platform.common.alerts import Alert, AlertDeliveryError, deliver, failure_cause
from lbh_platform.common.alerts_masking import mask
from lbh_platform.lib.automation_defaults import MONITORING, sensor_status
from lbh_platform.lib.monitoring.freshness import (
    FRESHNESS_CHECK,
    expected_partition,
    from_older_partition_run,
    judged_deadline,
)

RUN_ALERTS = "lbh_run_failure_alerts"
CHECK_ALERTS = "lbh_check_failure_alerts"
CHECK_FAILED_ERROR = "DagsterAssetCheckFailedError"
_REMEMBERED = 1000  # check failures remembered for de-duplication
_BATCH = 500
_OVERLAP = 120  # seconds: runs updated just before the last tick are looked at again
FINISHED = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]


def _table(key: dg.AssetKey) -> str:
    """The table a key names: its path after source and stage, without the stage suffix
    (``tascomi/snapshot/appeals_snapshot`` -> ``appeals``)."""
    if len(key.path) < 3:
        return key.path[-1]
    *within, last = key.path[2:]
    return "/".join([*within, last.removesuffix(f"_{key.path[1]}")])


def _describe_assets(keys: Iterable[dg.AssetKey]) -> tuple[str, str]:
    """(source, table) for the message: "tascomi", "appeals" or "2 tables: a, b"."""
    keys = sorted(set(keys), key=lambda k: k.path)
    if not keys:
        return "-", "-"
    sources = sorted({k.path[0] for k in keys})
    tables = sorted({_table(k) for k in keys})
    table = tables[0] if len(tables) == 1 else f"{len(tables)} tables: {', '.join(tables[:5])}"
    if len(tables) > 5:
        table += ", …"
    return ", ".join(sources), table


def _partition(run: dg.DagsterRun) -> str:
    tags = run.tags
    if tags.get(PARTITION_NAME_TAG):
        return tags[PARTITION_NAME_TAG]
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start and end:
        return start if start == end else f"{start}...{end}"
    return "-"


def _error_chain(error) -> list[tuple[str, str]]:
    """(class name, message) of a serialised error and its causes, outermost first, without
    Dagster's own wrappers ("Error occurred while executing op ...") around the project's
    error; all of it when Dagster's own error is all there is."""
    chain = []
    while error is not None:
        chain.append((error.cls_name or "", (error.message or "").strip()))
        error = getattr(error, "cause", None)
    own = [
        (name, message)
        for name, message in chain
        if not (name.startswith("Dagster") and message.startswith("dagster."))
    ]
    return own or chain


def _attempt(run: dg.DagsterRun) -> str:
    number = int(run.tags.get(RETRY_NUMBER_TAG, "0") or 0) + 1
    limit = run.tags.get(MAX_RETRIES_TAG)
    text = f"attempt {number}" + (f" of {int(limit) + 1}" if limit and limit.isdigit() else "")
    root = run.tags.get(ROOT_RUN_ID_TAG)
    return text + (f", first run {root[:8]}" if root else "")


def _failed_assets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[dg.AssetKey]:
    """The assets the run failed to materialise (else those it planned, else its selection)."""
    found: dict[str, list[dg.AssetKey]] = {"FAILED": [], "other": []}
    for record in instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_FAILED_TO_MATERIALIZE
    ).records:
        event = record.event_log_entry.dagster_event
        failure = event.asset_failed_to_materialize_data.asset_materialization_failure
        kind = "FAILED" if failure.failure_type.value == "FAILED" else "other"
        found[kind].append(failure.asset_key)
    if found["FAILED"] or found["other"]:
        return found["FAILED"] or found["other"]
    planned = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    keys = [r.event_log_entry.dagster_event.asset_key for r in planned]
    return [k for k in keys if k is not None] or list(run.asset_selection or [])


def run_failure_alert(instance: dg.DagsterInstance, run_id: str) -> tuple[Alert | None, str]:
    """The alert for a failed run, or None and why none is sent."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return None, f"run {run_id} not found"
    if run.tags.get(WILL_RETRY_TAG) == "true":
        return None, f"run {run_id} will be retried; its last attempt will be reported"
    steps = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    failures = [r.event_log_entry.dagster_event for r in steps if r.event_log_entry.dagster_event]
    errors = [f.step_failure_data.error for f in failures]
    if failures and all(e is not None and e.cls_name == CHECK_FAILED_ERROR for e in errors):
        return None, f"run {run_id} failed on blocking checks only: {CHECK_ALERTS} reports them"
    source, table = _describe_assets(_failed_assets(instance, run))
    if failures:
        cause = failure_cause(_error_chain(errors[0]))
        subject = f"step {failures[0].step_key}" + (
            f" and {len(failures) - 1} more" if len(failures) > 1 else ""
        )
    else:
        run_failure = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.RUN_FAILURE
        ).records
        cause = run_failure[-1].event_log_entry.message if run_failure else "the run failed"
        subject = f"job {run.job_name}"
    alert = Alert(
        title=f"Run failed ({run.job_name})",
        source=source,
        table=table,
        partition=_partition(run),
        subject=subject,
        cause=cause,
        run_id=run_id,
        detail=_attempt(run),
    )
    return alert, ""


def check_failure_alert(
    evaluation: dg.AssetCheckEvaluation, run: dg.DagsterRun | None, run_id: str
) -> Alert | None:
    """The alert for a failed check evaluation worth waking someone for, else None."""
    is_freshness = evaluation.check_name == FRESHNESS_CHECK
    serious = evaluation.blocking or evaluation.severity == dg.AssetCheckSeverity.ERROR
    if evaluation.passed or not (serious or is_freshness):
        return None
    key = evaluation.asset_key
    source, table = _describe_assets([key])
    partition = evaluation.partition
    if partition is None and is_freshness:
        partition = expected_partition(evaluation)
    if is_freshness:
        title = "Data overdue"
    elif evaluation.blocking:
        title = "Blocking check failed"
    else:
        title = "Check failed"
    detail = f"severity {evaluation.severity.value}" + (", blocking" if evaluation.blocking else "")
    if run is not None and run.tags.get(RETRY_NUMBER_TAG):
        detail += f", {_attempt(run)}"
    return Alert(
        title=title,
        source=source,
        table=table,
        partition=partition or (_partition(run) if run else "-"),
        subject=f"check {'/'.join(key.path[1:2])}/{evaluation.check_name}",
        cause=evaluation.description or "no description",
        run_id=run_id,
        detail=detail,
    )


@dg.run_failure_sensor(
    name=RUN_ALERTS,
    default_status=sensor_status(MONITORING),
    description="Posts one message per failed run (its last attempt) to LBH_ALERT_WEBHOOK_URL; "
    "logs it when the variable is unset.",
)
def run_failure_alerts(context: dg.RunFailureSensorContext) -> None:
    alert, reason = run_failure_alert(context.instance, context.dagster_run.run_id)
    if alert is None:
        context.log.info(mask(reason))
        return
    try:
        deliver(alert, context.log)
    except AlertDeliveryError as exc:
        context.log.error(mask(str(exc)))
        raise


def _load_cursor(cursor: str | None) -> dict:
    return json.loads(cursor) if cursor else {}


def _freshness_assets(context: dg.SensorEvaluationContext) -> list[dg.AssetKey] | None:
    """The assets with a freshness check in the sensor's definitions (None: not known)."""
    repository = context.repository_def
    if repository is None:
        return None
    checks = repository.asset_graph.asset_check_keys
    return [k.asset_key for k in checks if k.name == FRESHNESS_CHECK]


def first_seen_times(
    context: dg.SensorEvaluationContext, seen: dict[str, float] | None, now: float
) -> dict[str, float]:
    """When this sensor first saw each asset with a freshness check in its definitions (new
    ones: ``now``). Assets that left the definitions are forgotten, so a paused table that
    comes back is new again."""
    assets = _freshness_assets(context)
    known = dict(seen or {})
    if assets is None:
        return known
    return {k.to_user_string(): known.get(k.to_user_string(), now) for k in assets}


def freshness_not_alerted(
    instance: dg.DagsterInstance,
    evaluation: dg.AssetCheckEvaluation,
    run: dg.DagsterRun,
    first_seen: dict[str, float],
) -> str | None:
    """Why a freshness failure is not the asset's verdict to alert, or None when it is."""
    key = evaluation.asset_check_key
    if from_older_partition_run(evaluation, run):
        return (
            f"{key.to_user_string()}: from a run of an older partition "
            f"({_partition(run)}); the freshness sensor "
            "judges it again"
        )
    summary = instance.event_log_storage.get_asset_check_summary_records([key])[key]
    newest = summary.last_completed_check_execution_record
    if newest is not None and newest.run_id != run.run_id:
        return f"{key.to_user_string()}: superseded by a later evaluation (run {newest.run_id[:8]})"
    seen = first_seen.get(evaluation.asset_key.to_user_string())
    deadline = judged_deadline(evaluation)
    never_materialised = LAST_UPDATED_TIMESTAMP_METADATA_KEY not in evaluation.metadata
    if never_materialised and seen is not None and deadline is not None and deadline < seen:
        return (
            f"{key.to_user_string()}: a new asset, never materialised, is first due at the "
            "deadline after it was added"
        )
    return None


def _failed_check_alerts(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    first_seen: dict[str, float],
    log: logging.Logger | None = None,
) -> Iterable[tuple[str, Alert]]:
    """(identity, alert) for each alert-worthy check evaluation of a finished run."""
    root = run.tags.get(ROOT_RUN_ID_TAG) or run.run_id
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=10_000
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.asset_check_evaluation_data if event else None
        alert = check_failure_alert(evaluation, run, run.run_id) if evaluation else None
        if alert is None or evaluation is None:
            continue
        if evaluation.check_name == FRESHNESS_CHECK:
            reason = freshness_not_alerted(instance, evaluation, run, first_seen)
            if reason:
                if log is not None:
                    log.info(mask(f"not alerted: {reason}"))
                continue
        key = evaluation.asset_key.to_user_string()
        # An overdue partition is one failure however many runs find it overdue.
        once = "" if evaluation.check_name == FRESHNESS_CHECK else root
        yield "|".join((key, evaluation.check_name, alert.partition, once)), alert


def _grouped(alerts: list[tuple[str, Alert]]) -> list[tuple[list[str], Alert]]:
    """One message for the same failure of several tables in one run (e.g. every table
    overdue at 06:00), each table still remembered on its own."""
    groups: dict[tuple, list[tuple[str, Alert]]] = {}
    for identity, alert in alerts:
        same = (alert.title, alert.source, alert.partition, alert.subject, alert.cause)
        groups.setdefault(same, []).append((identity, alert))
    merged = []
    for members in groups.values():
        first = members[0][1]
        tables = sorted(alert.table for _, alert in members)
        if len(tables) > 1:
            shown = ", ".join(tables[:8]) + (", …" if len(tables) > 8 else "")
            first = replace(first, table=f"{len(tables)} tables: {shown}")
        merged.append(([identity for identity, _ in members], first))
    return merged


@dg.sensor(
    name=CHECK_ALERTS,
    default_status=sensor_status(MONITORING),
    minimum_interval_seconds=30,
    description="Posts one message per failed blocking, ERROR-severity or freshness check "
    "(per check, partition and first run) to LBH_ALERT_WEBHOOK_URL; logs it when unset.",
)
def check_failure_alerts(context: dg.SensorEvaluationContext) -> dg.SkipReason | None:
    """Reads the check evaluations of runs finished since the last tick (per-run records
    work on every event-log storage, the run-sharded SQLite default included)."""
    state = _load_cursor(context.cursor)
    now = get_current_timestamp()  # the clock Dagster stamps run records with
    first_seen = first_seen_times(context, state.get("seen"), now)
    if "after" not in state:  # the first tick starts from now, not from the whole history
        context.update_cursor(
            json.dumps({"after": now, "runs": [], "sent": [], "seen": first_seen})
        )
        return dg.SkipReason("watching finished runs' check results from now on")
    after, done, sent = state["after"], list(state["runs"]), list(state["sent"])
    runs = context.instance.get_runs(
        filters=dg.RunsFilter(
            statuses=FINISHED, updated_after=datetime.fromtimestamp(after - _OVERLAP, UTC)
        ),
        limit=_BATCH,
    )
    delivered, problem = 0, ""
    for run in runs:
        if run.run_id in done:
            continue
        found = _failed_check_alerts(context.instance, run, first_seen, context.log)
        fresh = [(i, a) for i, a in found if i not in sent]
        for identities, alert in _grouped(fresh):
            try:
                deliver(alert, context.log)
            except AlertDeliveryError as exc:  # retried next tick
                problem = mask(str(exc))
                context.log.error(problem)
                break
            sent = [*sent, *identities][-_REMEMBERED:]
            delivered += 1
        if problem:
            break
        done = [*done, run.run_id][-_REMEMBERED:]
    context.update_cursor(
        json.dumps(
            {"after": after if problem else now, "runs": done, "sent": sent, "seen": first_seen}
        )
    )
    if problem:
        return dg.SkipReason(f"{problem}; will retry")
    return None if delivered else dg.SkipReason("no new check failures to report")


def build_alert_sensors() -> list[dg.SensorDefinition]:
    return [run_failure_alerts, check_failure_alerts]
