"""A run started from the command line and killed (SIGKILL: nothing of it records the end) is
failed by the daemon's run monitoring on the embedded default instance, so its failure alert
is sent; and the process check behind it tells a live process from a dead or unreaped one."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml

from lbh_platform.deploy.local_run_launcher import LocalRunLauncher, process_alive
from lbh_platform.lib.monitoring.alerts import run_failure_alert
from lbh_platform.tascomi.tables import load_tables
from lbh_platform_devkit.local import INSTANCE_CONFIG
from lbh_platform_devkit.tascomi.simulator import TascomiSimulator

LONDON = ZoneInfo("Europe/London")
DAY = date(2024, 3, 6)
TABLE = "appeals"
ROOT = Path(__file__).resolve().parents[1]
PATIENCE = 120.0  # seconds to wait for a subprocess to reach a state (not a timing assertion)


def wait_for(what: str, condition: Callable[[], object]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_process_alive_tells_running_dead_and_unreaped_processes_apart():
    assert process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_alive(child.pid)
        child.kill()
        # Killed but not yet reaped: a zombie, which signal 0 alone would call alive.
        wait_for("the child to die", lambda: not process_alive(child.pid))
    finally:
        child.kill()
        child.wait()
    assert not process_alive(child.pid)


def test_the_embedded_default_names_the_launcher_and_monitors_runs(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_launcher, LocalRunLauncher)
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_monitoring_max_runtime_seconds > 0  # the backstop


@pytest.mark.integration
def test_a_killed_cli_run_is_failed_by_the_daemon_and_alerted(
    tmp_path, zones, catalogue, monkeypatch
):
    raw, refined = zones
    config = dict(yaml.safe_load(INSTANCE_CONFIG))
    config["run_monitoring"] = {**config["run_monitoring"], "poll_interval_seconds": 1}
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    simulator = TascomiSimulator(load_tables(), catalogue, epoch=DAY - timedelta(days=20))
    simulator.latency = 20.0  # every page takes long: the run is caught mid-import
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "LBH_RAW_ZONE": str(raw),
        "LBH_REFINED_ZONE": str(refined),
        "TASCOMI_API_URL": simulator.start(),
        "TASCOMI_PUBLIC_KEY": "sim-public-key",
        "TASCOMI_PRIVATE_KEY": "sim-private-key",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    simulator.set_now(datetime.combine(DAY + timedelta(days=1), clock(3), LONDON))
    materialize = [
        *(sys.executable, "-m", "dagster", "asset", "materialize"),
        *(
            "-m",
            "lbh_platform.definitions",
            "--select",
            f"tascomi/api_response/{TABLE}_api_response",
        ),
        *("--partition", DAY.isoformat()),
    ]
    cli = subprocess.Popen(
        materialize, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    daemon = None
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    try:
        with dg.DagsterInstance.get() as instance:  # the CLI's own instance

            def started() -> str | None:
                """The run, once its import step has started (and waits for a page)."""
                runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
                steps = runs and instance.get_records_for_run(
                    runs[0].run_id, of_type=dg.DagsterEventType.STEP_START
                )
                return runs[0].run_id if steps and steps.records else None

            wait_for("the CLI run's import step to start", started)
            run_id = started()
            assert run_id is not None
            cli.send_signal(signal.SIGKILL)
            cli.wait()
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED

            daemon = subprocess.Popen(
                [sys.executable, "-m", "dagster._daemon", "run", "--empty-workspace"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for(
                "run monitoring to fail the run",
                lambda: instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE,
            )
            failure = instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.RUN_FAILURE
            ).records
            assert "is gone" in failure[-1].event_log_entry.message

            alert, reason = run_failure_alert(instance, run_id)
            assert alert is not None, reason
            assert alert.partition == DAY.isoformat()
            assert (alert.source, alert.table) == ("tascomi", TABLE)
            assert "is gone" in alert.cause
    finally:
        cli.kill()
        cli.wait()
        if daemon is not None:
            stop(daemon)
        simulator.stop()
