"""A table added with ``probe --write`` while ``make dev`` runs materialises after **Reload
definitions**, without a restart: the running simulator already serves the resource, and the
reload (a new code server importing ``lbh_platform.definitions``) reads the edited table list.

The README's own example: ``site_visits``, which ships under ``paused:``.
"""

import os
import shutil
from datetime import datetime, time

import dagster as dg
import pytest

from lbh_platform.cli import probe as cli
from lbh_platform.definitions import load_definitions
from lbh_platform.settings import load_settings
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.column_types import DEFAULT_CATALOGUE_FILE
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.stages import partition_value
from lbh_platform.tascomi.tables import DEFAULT_TABLES_FILE, load_table_list
from lbh_platform_devkit import dev
from lbh_platform_devkit.local import LONDON

pytestmark = pytest.mark.integration
TABLE = "site_visits"
STAGES = ("api_response", "parsed", "increment", "snapshot")
TASCOMI_VARIABLES = ("TASCOMI_API_URL", "TASCOMI_PUBLIC_KEY", "TASCOMI_PRIVATE_KEY")
SET_BY_SIMULATORS = (*TASCOMI_VARIABLES, "ALLOY_API_URL", "ALLOY_API_KEY", "LBH_SIM_SCALE")
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def unset(monkeypatch, *names: str) -> None:
    for name in names:  # restored after the test, whoever sets them meanwhile
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.fixture()
def dev_folder(tmp_path, monkeypatch, zones):
    """A project folder as ``make dev`` sees it: its own home and copies of the two files."""
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
    # No DynamoDB stand-in: the event streams play no part here (`make dev` skips it so too).
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1")
    return home, tables


def keys_of(defs: dg.Definitions) -> set[str]:
    graph = defs.resolve_asset_graph()
    return {"/".join(key.path) for key in graph.get_all_asset_keys()}


def test_a_table_added_by_probe_write_materialises_after_reload_without_restart(
    dev_folder, monkeypatch, capsys
):
    home, tables_file = dev_folder
    assert TABLE in load_table_list(tables_file).paused
    with dev.start_simulators(home) as sims:
        dev_environment = {name: os.environ[name] for name in TASCOMI_VARIABLES}
        before = keys_of(load_definitions())
        assert f"tascomi/snapshot/{TABLE}_snapshot" not in before

        unset(monkeypatch, *TASCOMI_VARIABLES)  # probe runs in another shell
        assert cli.run([TABLE, "--write"]) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        assert f"moved {TABLE} from 'paused:' to 'tables:'" in out
        assert TABLE in [t.name for t in load_table_list(tables_file).tables]

        # Reload definitions: the code server imports the definitions again, with the
        # environment `make dev` gave it (pointing at the same running simulator).
        for name, value in dev_environment.items():
            monkeypatch.setenv(name, value)
        defs = load_definitions()
        assert keys_of(defs) - before >= {f"tascomi/{stage}/{TABLE}_{stage}" for stage in STAGES}

        day = datetime.now(LONDON).date()
        clock = datetime.combine(day, time(3), LONDON)  # the daily schedule's run
        sims.set_now(clock)
        selection = {dg.AssetKey(["tascomi", stage, f"{TABLE}_{stage}"]) for stage in STAGES}
        job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=selection)
        with dg.instance_for_test() as instance:
            result = job.execute_in_process(
                instance=instance,
                partition_key=day.isoformat(),
                raise_on_error=False,
                run_config=QUIET,
            )
        assert result.success
        assert {event.asset_key for event in result.get_asset_materialization_events()} == (
            selection
        )
        settings = load_settings()
        lake = Lake({"raw": settings.raw_zone, "refined": settings.refined_zone})
        snapshot = tascomi_table(lake, "snapshot", TABLE).read(partition_value(day))
        truth = sims["tascomi"].state(TABLE, clock)
        assert truth and sorted(snapshot["id"].to_pylist()) == sorted(int(r["id"]) for r in truth)
