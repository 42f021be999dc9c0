"""`make run` and `make dev` show the same simulated world: the records their simulators serve
for a table on a given day are identical, whichever starts first and on whichever day, so data
made by one continues under the other (no ids "vanish" between two days)."""

import json
import shutil
from datetime import datetime, time, timedelta

import pytest

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.tascomi.column_types import DEFAULT_CATALOGUE_FILE
from lbh_platform.tascomi.tables import DEFAULT_TABLES_FILE
from lbh_platform_devkit import demo, dev
from lbh_platform_devkit.local import LONDON
from lbh_platform_devkit.world import HISTORY_DAYS, WORLD_FILE, simulated_world

SET_BY_SIMULATORS = (
    "TASCOMI_API_URL",
    "TASCOMI_PUBLIC_KEY",
    "TASCOMI_PRIVATE_KEY",
    "ALLOY_API_URL",
    "ALLOY_API_KEY",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "LBH_SIM_SCALE",
)
TODAY = datetime.now(LONDON).date()
MAKE_RUN_DAYS = [TODAY - timedelta(days=n) for n in range(3, -1, -1)]  # its default --days 4
TABLES = ("applications", "appeals", "wards")


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
    for name in SET_BY_SIMULATORS:  # restored after the test, whoever sets them meanwhile
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return home


def served(simulators, day) -> dict[str, list[dict]]:
    """Every record each table holds at the 03:00 run of ``day``, as the API serves it."""
    with simulators as sims:
        moment = datetime.combine(day, time(3), LONDON)
        return {table: sims["tascomi"].state(table, moment) for table in TABLES}


def test_make_run_then_make_dev_serve_identical_records(home):
    day = MAKE_RUN_DAYS[1]
    by_make_run = served(demo.start_simulators(home, MAKE_RUN_DAYS), day)
    by_make_dev = served(dev.start_simulators(home), day)
    assert by_make_run["applications"]  # there is something to compare
    assert by_make_dev == by_make_run


def test_make_dev_first_then_make_run_on_later_days_serve_identical_records(home):
    day = TODAY - timedelta(days=2)
    by_make_dev = served(dev.start_simulators(home, today=TODAY - timedelta(days=1)), day)
    later = [TODAY - timedelta(days=n) for n in range(6, -1, -1)]  # `make run --days 7`
    assert served(demo.start_simulators(home, later), day) == by_make_dev


def test_the_world_is_kept_in_dagster_home_and_a_new_one_starts_before_its_first_day(home, capsys):
    first = simulated_world(home, TODAY)
    assert first.epoch == TODAY - timedelta(days=HISTORY_DAYS) and first.scale == 1.0
    assert json.loads((home / WORLD_FILE).read_text())["epoch"] == first.epoch.isoformat()
    assert simulated_world(home, TODAY + timedelta(days=40)) == first  # a later day
    assert simulated_world(home, TODAY, scale=1) == first
    assert capsys.readouterr().err == ""
    bigger = simulated_world(home, TODAY, scale=2)
    assert (bigger.epoch, bigger.scale) == (first.epoch, 2.0)
    assert "the data made so far does not continue" in capsys.readouterr().err
    assert simulated_world(home, TODAY) == first  # the kept world is unchanged


def test_a_damaged_world_file_is_refused_with_what_to_do(home):
    (home / WORLD_FILE).write_text("{not json")
    with pytest.raises(ConfigurationError, match=f"{home / WORLD_FILE}: not a simulated world"):
        simulated_world(home, TODAY)
