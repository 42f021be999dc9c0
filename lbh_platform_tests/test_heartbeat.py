"""The heartbeat sensor against a loopback dead-man's-switch monitor: a ping per tick while
every daemon is alive, silence otherwise; a failed ping skips the tick without failing it; the
URL (it carries the monitor's token) is never in a skip reason or a log."""

import logging
import socket
import time

import dagster as dg
import pytest
from dagster._daemon.types import DaemonHeartbeat

from lbh_platform.definitions import defs
from lbh_platform.lib.monitoring.heartbeat import (
    DAEMON_TOLERANCE_SECONDS,
    HEARTBEAT_SENSOR,
    build_heartbeat_sensor,
)
from lbh_platform_tests.heartbeat_receiver import HeartbeatReceiver


def _beat(instance: dg.DagsterInstance, age: float = 0.0, skip: str | None = None) -> None:
    """Heartbeats of every daemon the instance needs, ``age`` seconds old (``skip`` none)."""
    for daemon in instance.get_required_daemon_types():
        if daemon != skip:
            instance.add_daemon_heartbeat(
                DaemonHeartbeat(time.time() - age, daemon, "test-daemon", None)
            )


def _tick(instance: dg.DagsterInstance) -> str:
    sensor = build_heartbeat_sensor()
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert not result.run_requests
    return result.skip_message or ""


@pytest.fixture()
def monitor(monkeypatch):
    with HeartbeatReceiver() as receiver:
        monkeypatch.setenv("LBH_HEARTBEAT_URL", receiver.url)
        yield receiver


def test_the_platform_has_one_heartbeat_sensor_running_every_minute():
    [sensor] = [s for s in defs.get_repository_def().sensor_defs if s.name == HEARTBEAT_SENSOR]
    assert sensor.minimum_interval_seconds == 60
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_each_tick_pings_while_every_daemon_is_alive(monitor, caplog):
    with dg.instance_for_test() as instance, caplog.at_level(logging.DEBUG):
        _beat(instance)
        first, second = _tick(instance), _tick(instance)
    assert monitor.pings == 2
    assert first == second == "ping sent to LBH_HEARTBEAT_URL (HTTP 200)"
    assert monitor.path not in caplog.text


def test_a_silent_daemon_is_silence(monitor):
    with dg.instance_for_test() as instance:
        daemons = sorted(instance.get_required_daemon_types())
        _beat(instance, skip=daemons[0])
        reason = _tick(instance)
        assert monitor.pings == 0 and daemons[0] in reason and "no ping" in reason
        _beat(instance, age=DAEMON_TOLERANCE_SECONDS + 60)  # every daemon stalled
        assert "no ping" in _tick(instance) and monitor.pings == 0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("failure", ["http 503", "refused"])
def test_a_failed_ping_skips_the_tick_and_never_shows_the_url(
    monitor, monkeypatch, caplog, failure
):
    token = "hb-SECRET-token-0123456789"
    if failure == "http 503":
        monitor.status = 503
        url = monitor.url
        expected = "ping to LBH_HEARTBEAT_URL failed: HTTP 503"
    else:
        url = f"http://127.0.0.1:{_closed_port()}/ping/{token}"
        expected = "ping to LBH_HEARTBEAT_URL failed: ConnectionRefusedError"
    monkeypatch.setenv("LBH_HEARTBEAT_URL", url)
    with dg.instance_for_test() as instance, caplog.at_level(logging.DEBUG):
        _beat(instance)
        reason = _tick(instance)  # a skipped tick, not a failed one: no exception
    assert reason == expected
    for secret in (url, monitor.path, token):
        assert secret not in reason and secret not in caplog.text


def test_unset_it_skips_saying_so(monkeypatch):
    monkeypatch.delenv("LBH_HEARTBEAT_URL", raising=False)
    with dg.instance_for_test() as instance:
        assert _tick(instance) == "LBH_HEARTBEAT_URL is not set: no heartbeat is sent"
