"""Alert sensors against a loopback webhook: one message per failure (not per retry), the
message names source, table, partition, check or step, cause and the run's link, and never a
secret; with no webhook the sensors log what they would send."""

import logging
import socket
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import requests
from dagster._core.test_utils import freeze_time

from lbh_platform.common.alerts import (
    Alert,
    WebhookPoster,
    deliver,
    failure_cause,
    format_alert,
    secret_values,
)
from lbh_platform.common.http import RetryPolicy, send_with_retries
from lbh_platform.common.monitoring_config import MonitoringConfig
from lbh_platform.lib.monitoring.alerts import check_failure_alerts, run_failure_alerts
from lbh_platform.lib.monitoring.freshness import build_freshness
from lbh_platform.lib.partitions import daily_partitions
from lbh_platform_tests.webhook_receiver import WebhookReceiver

UI = "https://dagster.example.org"
SECRET = "sk-ALERT-SECRET-5d4c3b2a"
PARTITIONS = dg.DailyPartitionsDefinition(start_date="2024-01-01")


def _failing_asset_defs():
    @dg.asset(key=["tascomi", "api_response", "appeals_api_response"], partitions_def=PARTITIONS)
    def appeals(context: dg.AssetExecutionContext) -> None:
        raise ValueError(f"tascomi appeals page 3 failed with HTTP 500 (key {SECRET})")

    spec = dg.AssetCheckSpec(
        "id_import_date_unique",
        asset=["tascomi", "parsed", "appeals_parsed"],
        blocking=True,
        partitions_def=PARTITIONS,
    )

    @dg.asset(key=["tascomi", "parsed", "appeals_parsed"], partitions_def=PARTITIONS)
    def parsed() -> None:
        return None

    @dg.multi_asset_check(specs=[spec], name="parsed_checks")
    def parsed_checks():
        yield dg.AssetCheckResult(
            passed=False,
            asset_key=spec.asset_key,
            check_name=spec.name,
            description="1 duplicate (id, import_date) rows",
        )

    return dg.Definitions(
        assets=[appeals, parsed],
        asset_checks=[parsed_checks],
        sensors=[run_failure_alerts, check_failure_alerts],
        jobs=[
            dg.define_asset_job("ingest", selection=[appeals.key]),
            dg.define_asset_job("parse", selection=[parsed.key]),
        ],
    )


@pytest.fixture()
def webhook(monkeypatch):
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("LBH_ALERT_WEBHOOK_URL", receiver.url)
        monkeypatch.setenv("LBH_UI_BASE_URL", UI)
        monkeypatch.setenv("TASCOMI_PRIVATE_KEY", SECRET)
        yield receiver


def _tick(defs, instance, sensor, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return sensor.evaluate_tick(context).cursor


def _attempt(defs, instance, job: str, first_run: str | None, retry: int, max_retries: int = 1):
    tags = {"dagster/max_retries": str(max_retries)}
    if first_run:
        tags.update(
            {
                "dagster/root_run_id": first_run,
                "dagster/parent_run_id": first_run,
                "dagster/retry_number": str(retry),
                # The daemon counts retries by run group, which in-process runs lack; this
                # makes Dagster decide "no further retry" for the last attempt.
                "dagster/retry_on_asset_or_op_failure": "false",
            }
        )
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key="2024-03-05", tags=tags, raise_on_error=False
    )
    assert not result.success
    return result.run_id


def test_a_retried_run_failure_is_one_message_from_its_last_attempt(webhook):
    defs = _failing_asset_defs()
    with dg.instance_for_test(
        overrides={"run_retries": {"enabled": True, "max_retries": 1}}
    ) as instance:
        cursor = _tick(defs, instance, run_failure_alerts, None)
        first = _attempt(defs, instance, "ingest", None, 0)
        assert instance.get_run_by_id(first).tags.get("dagster/will_retry") == "true"
        cursor = _tick(defs, instance, run_failure_alerts, cursor)
        assert webhook.texts == []  # it will be retried: no message yet
        last = _attempt(defs, instance, "ingest", first, 1)
        assert instance.get_run_by_id(last).tags.get("dagster/will_retry") == "false"
        cursor = _tick(defs, instance, run_failure_alerts, cursor)
        _tick(defs, instance, run_failure_alerts, cursor)  # nothing new: nothing sent
    [text] = webhook.texts
    assert "Run failed (ingest)" in text
    assert "tascomi appeals, partition 2024-03-05" in text
    assert "step tascomi__api_response__appeals" in text
    assert "attempt 2 of 2" in text
    assert "ValueError: tascomi appeals page 3 failed with HTTP 500" in text
    assert f"run: {UI}/runs/{last}" in text
    assert SECRET not in text and "[redacted]" in text


def test_a_blocking_check_failure_is_one_message_across_retries(webhook):
    defs = _failing_asset_defs()
    with dg.instance_for_test(
        overrides={"run_retries": {"enabled": True, "max_retries": 1}}
    ) as instance:
        run_cursor = _tick(defs, instance, run_failure_alerts, None)
        check_cursor = _tick(defs, instance, check_failure_alerts, None)
        first = _attempt(defs, instance, "parse", None, 0)
        check_cursor = _tick(defs, instance, check_failure_alerts, check_cursor)
        _attempt(defs, instance, "parse", first, 1)
        check_cursor = _tick(defs, instance, check_failure_alerts, check_cursor)
        _tick(defs, instance, check_failure_alerts, check_cursor)
        # The runs failed only because of the blocking check: not reported a second time.
        _tick(defs, instance, run_failure_alerts, run_cursor)
    [text] = webhook.texts
    assert "Blocking check failed: tascomi appeals, partition 2024-03-05" in text
    assert "check parsed/id_import_date_unique (severity ERROR, blocking" in text
    assert "cause: 1 duplicate (id, import_date) rows" in text
    assert f"run: {UI}/runs/{first}" in text


def test_warnings_do_not_alert_and_freshness_failures_do(webhook):
    key = dg.AssetKey(["alloy", "snapshot", "graffiti", "graffiti_snapshot"])

    @dg.asset_check(asset=key, name="row_count_vs_history")
    def volume():
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)

    @dg.asset_check(asset=key, name="freshness_check")
    def freshness():
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description="Asset is overdue. We expected partition 2024-03-05 to have arrived, "
            "and it has not.",
        )

    defs = dg.Definitions(
        assets=[dg.AssetSpec(key)],
        asset_checks=[volume, freshness],
        jobs=[dg.define_asset_job("checks", selection=dg.AssetSelection.checks(volume, freshness))],
        sensors=[check_failure_alerts],
    )
    with dg.instance_for_test() as instance:
        cursor = _tick(defs, instance, check_failure_alerts, None)
        assert defs.resolve_job_def("checks").execute_in_process(instance=instance).success
        _tick(defs, instance, check_failure_alerts, cursor)
    [text] = webhook.texts
    assert text.startswith(
        "[lbh_platform] Data overdue: alloy graffiti/graffiti, partition 2024-03-05"
    )


def test_without_a_webhook_the_message_is_logged(monkeypatch, caplog):
    monkeypatch.delenv("LBH_ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("LBH_UI_BASE_URL", raising=False)
    alert = Alert(
        "Run failed (x)", "tenure", "tenure_information", "2024-03-05", "step s", "boom", "r1"
    )
    with caplog.at_level(logging.INFO):
        text = deliver(alert, logging.getLogger("test"))
    assert "LBH_ALERT_WEBHOOK_URL is not set; the alert would say:" in caplog.text
    assert text in caplog.text and "http://127.0.0.1:3000/runs/r1" in text


def test_secrets_are_masked_and_the_webhook_url_never_shows(webhook):
    environ = {
        "ALLOY_API_KEY": SECRET,
        "LBH_ALERT_WEBHOOK_URL": webhook.url,
        "LBH_ENGINE": "pandas",
    }
    alert = Alert("Run failed (x)", "alloy", "graffiti", "-", "step s", f"Bearer {SECRET} refused")
    text = format_alert(alert, UI, secret_values(environ))
    assert SECRET not in text and "Bearer [redacted] refused" in text
    webhook.status = 500
    poster = WebhookPoster(webhook.url, sleep=lambda _: None)
    with pytest.raises(Exception) as failure:
        poster.post("hello")
    assert str(failure.value) == "alert webhook failed: HTTP 500"
    assert webhook.path not in repr(poster) + str(failure.value)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_transport_failure_alert_keeps_the_projects_message_and_adds_the_cause(webhook):
    # A path carrying a credential: not a query parameter, so http.py chains the raw
    # requests error (which quotes the URL); the alert must still mask it.
    url = f"http://127.0.0.1:{_closed_port()}/rest/v1/{SECRET}/documents"

    @dg.asset(key=["tascomi", "api_response", "documents_api_response"], partitions_def=PARTITIONS)
    def documents() -> None:
        send_with_retries(
            requests.Session(),
            "GET",
            url,
            params={"page": 1},
            policy=RetryPolicy(max_attempts=5, backoff_base=0.0, backoff_max=0.0),
            describe="tascomi documents page 1",
            sleep=lambda _: None,
        )

    defs = dg.Definitions(
        assets=[documents],
        sensors=[run_failure_alerts],
        jobs=[dg.define_asset_job("ingest", selection=[documents.key])],
    )
    with dg.instance_for_test() as instance:
        cursor = _tick(defs, instance, run_failure_alerts, None)
        _attempt(defs, instance, "ingest", None, 0, max_retries=0)
        _tick(defs, instance, run_failure_alerts, cursor)
    [text] = webhook.texts
    cause = next(line for line in text.splitlines() if line.startswith("cause: "))
    # The project's own message first: what failed, after how many attempts ...
    assert cause.startswith("cause: ApiRequestError: tascomi documents page 1: GET http://")
    assert "failed after 5 attempts" in cause
    # ... then why: the transport error underneath.
    assert "ConnectionError" in cause and "Connection refused" in cause
    assert SECRET not in text and "/rest/v1/[redacted]/documents" in text


def test_failure_cause_adds_each_deeper_cause_once_and_drops_class_prefixes():
    chain = [
        ("DataError", "lbh_platform.common.errors.DataError: tascomi appeals partition 20240305"),
        (
            "ApiRequestError",
            "tascomi appeals page 2: GET https://x/appeals failed after 5 "
            "attempts: ReadTimeout: read timed out",
        ),
        ("ReadTimeout", "requests.exceptions.ReadTimeout: read timed out\n"),
    ]
    assert failure_cause(chain) == (
        "DataError: tascomi appeals partition 20240305; caused by ApiRequestError: tascomi "
        "appeals page 2: GET https://x/appeals failed after 5 attempts: ReadTimeout: read "
        "timed out"
    )
    assert failure_cause([("", "the run failed")]) == "the run failed"


# -- freshness: only the asset's verdict is alerted -------------------------------------------

LONDON = ZoneInfo("Europe/London")
SNAPSHOT = dg.AssetKey(["tascomi", "snapshot", "appeals_snapshot"])


def _freshness_defs():
    """A daily snapshot with its 06:00 freshness check, its sensor, and the alert sensor."""

    @dg.asset(key=SNAPSHOT, partitions_def=daily_partitions)
    def snapshot() -> None:
        return None

    checks, [sensor] = build_freshness("tascomi", {SNAPSHOT: "daily"}, MonitoringConfig())
    defs = dg.Definitions(
        assets=[snapshot],
        asset_checks=checks,
        sensors=[sensor, check_failure_alerts],
        jobs=[dg.define_asset_job("daily", selection=dg.AssetSelection.assets(SNAPSHOT))],
    )
    return defs, sensor


def _at(day: int, hour: int, minute: int = 0):
    return freeze_time(datetime(2024, 3, day, hour, minute, tzinfo=LONDON))


def _materialise(defs, instance, partition: str) -> None:
    """A run of one partition: the asset and, as in every such run, its freshness check."""
    result = defs.resolve_job_def("daily").execute_in_process(
        instance=instance, partition_key=partition
    )
    assert result.success


def _freshness_sensor_tick(defs, instance, sensor) -> list[str]:
    """One tick of the freshness sensor, its run executed as the daemon would launch it;
    the reasons it gave."""
    context = dg.build_sensor_context(instance=instance, definitions=defs)
    result = sensor.evaluate_tick(context)
    for request in result.run_requests:
        job = dg.define_asset_job(
            "freshness_run", selection=dg.AssetSelection.checks(*request.asset_check_keys)
        )
        merged = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
        merged.resolve_job_def("freshness_run").execute_in_process(
            instance=instance, tags={"dagster/sensor_name": sensor.name}
        )
    return [request.asset_check_keys for request in result.run_requests]


def _overdue(webhook) -> list[str]:
    return [t for t in webhook.texts if "Data overdue" in t]


def test_make_runs_earlier_days_do_not_alert_for_today_once_it_has_landed(webhook):
    """`make run` materialises the last four days in order after 06:00: the runs of the three
    earlier days each find today missing; today's run lands it. Nothing is overdue."""
    defs, _ = _freshness_defs()
    with dg.instance_for_test() as instance:
        with _at(12, 9):
            cursor = _tick(defs, instance, check_failure_alerts, None)
        with _at(12, 10):
            for day in ("2024-03-09", "2024-03-10", "2024-03-11", "2024-03-12"):
                _materialise(defs, instance, day)
            evaluations = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(SNAPSHOT, "freshness_check"), limit=10
            )
            statuses = [e.status.value for e in evaluations]
            assert statuses[0] == "SUCCEEDED" and statuses.count("FAILED") == 3, statuses
            _tick(defs, instance, check_failure_alerts, cursor)
    assert _overdue(webhook) == []


def test_a_failure_a_later_evaluation_has_superseded_is_not_alerted(webhook):
    defs, sensor = _freshness_defs()
    with dg.instance_for_test() as instance:
        with _at(11, 9):
            _materialise(defs, instance, "2024-03-11")
            cursor = _tick(defs, instance, check_failure_alerts, None)
        with _at(12, 6, 30):  # the sensor finds today missing ...
            assert _freshness_sensor_tick(defs, instance, sensor)
        with _at(12, 7):  # ... and the day lands before the alert sensor looks
            _materialise(defs, instance, "2024-03-12")
            cursor = _tick(defs, instance, check_failure_alerts, cursor)
        assert _overdue(webhook) == []
        with _at(13, 6, 30):  # control: the next day does not land
            assert _freshness_sensor_tick(defs, instance, sensor)
            _tick(defs, instance, check_failure_alerts, cursor)
    [text] = _overdue(webhook)
    assert "tascomi appeals, partition 2024-03-13" in text


def test_a_run_of_an_older_partition_never_alerts_but_the_sensor_judges_again(webhook):
    defs, sensor = _freshness_defs()
    with dg.instance_for_test() as instance:
        with _at(10, 9):
            _materialise(defs, instance, "2024-03-10")  # its freshness check passes
            cursor = _tick(defs, instance, check_failure_alerts, None)
        with _at(12, 10):
            _materialise(defs, instance, "2024-03-11")  # a backfill day: finds 03-12 missing
            cursor = _tick(defs, instance, check_failure_alerts, cursor)
            assert _overdue(webhook) == []
            # Its failure is not the sensor's: the sensor evaluates the check itself.
            assert _freshness_sensor_tick(defs, instance, sensor)
            cursor = _tick(defs, instance, check_failure_alerts, cursor)
            assert len(_overdue(webhook)) == 1
            # Nothing changed since: no new evaluation, no second message.
            assert _freshness_sensor_tick(defs, instance, sensor) == []
            _tick(defs, instance, check_failure_alerts, cursor)
    [text] = _overdue(webhook)
    assert "tascomi appeals, partition 2024-03-12" in text


def test_a_table_added_after_the_deadline_is_first_due_at_the_next_one(webhook):
    defs, sensor = _freshness_defs()
    with dg.instance_for_test() as instance:
        with _at(12, 14):  # added at 14:00: the alert sensor sees it for the first time
            cursor = _tick(defs, instance, check_failure_alerts, None)
        with _at(12, 14, 1):  # never evaluated: the sensor runs the check, which fails
            assert _freshness_sensor_tick(defs, instance, sensor)
            cursor = _tick(defs, instance, check_failure_alerts, cursor)
            assert _overdue(webhook) == []  # 06:00 today passed before the table existed
            assert _freshness_sensor_tick(defs, instance, sensor) == []
        with _at(13, 6, 30):  # still nothing at its first deadline: overdue
            assert _freshness_sensor_tick(defs, instance, sensor)
            _tick(defs, instance, check_failure_alerts, cursor)
    [text] = _overdue(webhook)
    assert "tascomi appeals, partition 2024-03-13" in text  # named, not "partition -"
    assert "never been observed/materialized" in text


def test_a_table_with_history_is_overdue_at_once_on_a_new_instance(webhook):
    """Added at 14:00 and backfilled up to yesterday: today's partition is a real gap."""
    defs, sensor = _freshness_defs()
    with dg.instance_for_test() as instance, _at(12, 14):
        cursor = _tick(defs, instance, check_failure_alerts, None)
        _materialise(defs, instance, "2024-03-11")  # finds 03-12 missing: older run
        cursor = _tick(defs, instance, check_failure_alerts, cursor)
        assert _overdue(webhook) == []
        assert _freshness_sensor_tick(defs, instance, sensor)
        _tick(defs, instance, check_failure_alerts, cursor)
    [text] = _overdue(webhook)
    assert "tascomi appeals, partition 2024-03-12" in text
