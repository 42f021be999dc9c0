"""`probe` with ``TASCOMI_API_URL`` unset reaches the simulator ``make dev`` / ``make run`` is
running for this ``DAGSTER_HOME``, on whatever port it got, and says plainly when none is."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import date

import pytest

from lbh_platform.cli import probe as cli
from lbh_platform.cli.simulator_state import RUNNING_DIR, announce, find_running
from lbh_platform.tascomi.column_types import DEFAULT_CATALOGUE_FILE
from lbh_platform.tascomi.settings import SIMULATOR_PORT
from lbh_platform.tascomi.tables import DEFAULT_TABLES_FILE
from lbh_platform_devkit.local import local_stand_ins

# What the simulators set in this process, and a shell running probe would not have.
SET_BY_SIMULATORS = (
    "TASCOMI_API_URL",
    "TASCOMI_PUBLIC_KEY",
    "TASCOMI_PRIVATE_KEY",
    "TASCOMI_SECRET_ID",
    "ALLOY_API_URL",
    "ALLOY_API_KEY",
)


def unset(monkeypatch, *names: str) -> None:
    """Unset now, restored (or removed again) after the test, whoever sets them meanwhile."""
    for name in names:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.fixture()
def home(tmp_path, monkeypatch, zones):
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    tables, types = tmp_path / "tables.yaml", tmp_path / "types.yaml"
    shutil.copy(DEFAULT_TABLES_FILE, tables)
    shutil.copy(DEFAULT_CATALOGUE_FILE, types)
    monkeypatch.setenv("LBH_TASCOMI_TABLES_FILE", str(tables))
    monkeypatch.setenv("LBH_TASCOMI_COLUMN_TYPES_FILE", str(types))
    unset(monkeypatch, *SET_BY_SIMULATORS)
    return home


@contextlib.contextmanager
def default_port_taken():
    """Hold the simulator's default port (if someone else holds it, it is taken anyway)."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
    try:
        with contextlib.suppress(OSError):
            holder.bind(("127.0.0.1", SIMULATOR_PORT))
            holder.listen()
        yield
    finally:
        holder.close()


def run_probe(capsys, *args: str) -> tuple[int, str, str]:
    status = cli.run(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


def test_probe_finds_the_running_simulator_when_the_default_port_moved(home, monkeypatch, capsys):
    with default_port_taken():
        simulators = local_stand_ins(
            home, first_day=date.today(), scale=0.2, event_stream_days=None
        )
    with simulators as sims:
        assert f":{SIMULATOR_PORT}/" not in sims["tascomi"].base_url
        unset(monkeypatch, *SET_BY_SIMULATORS)  # probe runs in another shell
        status, out, err = run_probe(capsys, "site_visits", "--pages", "1")
        assert status == 0, err
        assert f"using the built-in simulator at {sims['tascomi'].base_url}" in err
        assert "Tascomi resource 'site_visits'" in out
        assert [r for r, _, _ in sims["tascomi"].request_log] == ["site_visits"]
    # Stopped: its record is gone, and probe says so rather than trying port 8765.
    assert list((home / RUNNING_DIR).glob("*.json")) == []
    status, out, err = run_probe(capsys, "site_visits")
    assert status == 1 and out == ""
    assert "no built-in simulator is running" in err and "make dev" in err


def test_without_a_running_simulator_probe_stops_with_one_line(home, capsys):
    status, out, err = run_probe(capsys, "appeals")
    assert status == 1 and out == ""
    assert err.strip().count("\n") == 0
    assert f"no built-in simulator is running for {home}" in err
    assert "TASCOMI_API_URL" in err


def record(home, pid: int, url: str, started: str) -> None:
    (home / RUNNING_DIR).mkdir(exist_ok=True)
    content = {"pid": pid, "tascomi": url, "alloy": None, "started": started}
    (home / RUNNING_DIR / f"{pid}.json").write_text(json.dumps(content))


def test_the_record_of_a_process_that_died_is_ignored(home, capsys):
    """A killed ``make dev`` leaves its record behind: probe must not use it."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record(home, gone.pid, "http://127.0.0.1:1234/rest/v1/", "2030-01-01T00:00:00+00:00")
    assert find_running(home) is None
    status, _, err = run_probe(capsys, "appeals")
    assert status == 1 and "no built-in simulator is running" in err


def test_the_newest_live_record_wins(home):
    record(home, os.getpid(), "http://127.0.0.1:1111/rest/v1/", "2024-01-01T00:00:00+00:00")
    announce(home, "http://127.0.0.1:2222/rest/v1/")
    assert find_running(home).tascomi_url == "http://127.0.0.1:2222/rest/v1/"
