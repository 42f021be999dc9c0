"""Secrets never leak: a full day of Tascomi and Alloy through Dagster, then a failing run
reported by the alert sensors to a loopback webhook; every log line, event record, metadata
value, written file and alert message is scanned for the API keys."""

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from lbh_platform.alloy.datasets import load_datasets
from lbh_platform.definitions import build_definitions
from lbh_platform.lib.monitoring.alerts import check_failure_alerts, run_failure_alerts
from lbh_platform.settings import load_settings
from lbh_platform.tascomi.tables import load_tables
from lbh_platform_devkit.alloy.simulator import AlloySimulator
from lbh_platform_devkit.tascomi.simulator import TascomiSimulator
from lbh_platform_tests.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.faults, pytest.mark.integration]
LONDON = ZoneInfo("Europe/London")
DAY = date(2024, 3, 5)
TASCOMI_PUBLIC = "tascomi-public-4d3c2b1a"
TASCOMI_PRIVATE = "tascomi-PRIVATE-9f8e7d6c5b"
ALLOY_KEY = "alloy-SECRET-5c4b3a2918"


def test_no_key_in_logs_events_metadata_or_files(tmp_path, zones, catalogue, monkeypatch, faults):
    config = tmp_path / "tables.yaml"
    config.write_text("tables:\n  - {name: appeals}\n  - {name: wards, cadence: weekly}\n")
    tables = load_tables(config)
    datasets = [d for d in load_datasets() if d.name == "graffiti"]
    tascomi = TascomiSimulator(
        tables,
        catalogue,
        public_key=TASCOMI_PUBLIC,
        private_key=TASCOMI_PRIVATE,
        epoch=DAY - timedelta(days=10),
    )
    alloy = AlloySimulator(datasets, api_key=ALLOY_KEY, epoch=DAY - timedelta(days=10))
    monkeypatch.setenv("TASCOMI_API_URL", tascomi.start())
    monkeypatch.setenv("TASCOMI_PUBLIC_KEY", TASCOMI_PUBLIC)
    monkeypatch.setenv("TASCOMI_PRIVATE_KEY", TASCOMI_PRIVATE)
    monkeypatch.setenv("ALLOY_API_URL", alloy.start())
    monkeypatch.setenv("ALLOY_API_KEY", ALLOY_KEY)
    monkeypatch.setenv("ALLOY_POLL_SECONDS", "0.05")
    moment = datetime.combine(DAY, time(3), LONDON)
    tascomi.set_now(moment)
    alloy.set_now(moment)
    home = tmp_path / "dagster_home"
    home.mkdir()
    webhook = WebhookReceiver().__enter__()
    monkeypatch.setenv("LBH_ALERT_WEBHOOK_URL", webhook.url)
    try:
        defs = build_definitions(tables, catalogue, load_settings(), datasets)
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            cursors = {
                sensor: sensor.evaluate_tick(
                    dg.build_sensor_context(instance=instance, definitions=defs)
                ).cursor
                for sensor in (run_failure_alerts, check_failure_alerts)
            }
            job = defs.resolve_job_def("tascomi_daily_pipeline")
            results = [job.execute_in_process(instance=instance, partition_key=DAY.isoformat())]
            results.append(
                defs.resolve_job_def("alloy_pipeline").execute_in_process(
                    instance=instance, partition_key=DAY.isoformat()
                )
            )
            assert all(r.success for r in results)
            # A page that keeps failing: the run fails and the alert sensors report it.
            tascomi.inject("503", resource="appeals", times=1000)
            failed = job.execute_in_process(
                instance=instance, partition_key=DAY.isoformat(), raise_on_error=False
            )
            assert not failed.success
            results.append(failed)
            for sensor, cursor in cursors.items():
                sensor.evaluate_tick(
                    dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
                )
            texts = []
            for record in [
                r for result in results for r in instance.get_records_for_run(result.run_id).records
            ]:
                entry = record.event_log_entry
                texts.append(entry.user_message or "")
                texts.append(repr(entry.dagster_event))
            # The run configuration shown in the UI names the variables, not the values.
            for result in results:
                texts.append(repr(instance.get_run_by_id(result.run_id)))
        scanned_files = 0
        for root in (*zones, home):
            for path in Path(root).rglob("*"):
                if path.is_file():
                    scanned_files += 1
                    texts.append(path.read_bytes().decode("latin-1"))
        alerts = webhook.texts
        texts.extend(alerts)
    finally:
        webhook.__exit__(None, None, None)
        tascomi.stop()
        alloy.stop()
    assert any("Run failed (tascomi_daily_pipeline)" in a and "appeals" in a for a in alerts)
    leaks = [k for k in (TASCOMI_PUBLIC, TASCOMI_PRIVATE, ALLOY_KEY) if any(k in t for t in texts)]
    faults.record(survived=not leaks)
    assert scanned_files > 10 and len(texts) > 100
    assert leaks == []
