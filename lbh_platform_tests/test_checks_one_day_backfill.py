"""A one-day backfill launched as the UI launches it (the ``launchPartitionBackfill``
mutation, then the daemon's backfill iterations) runs with a partition *range* tag, not
``dagster/partition``; its check results must still land on that day, passed or failed."""

import json
import logging
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow as pa
import pytest
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster_graphql.client.query import LAUNCH_PARTITION_BACKFILL_MUTATION
from dagster_graphql.test.utils import execute_dagster_graphql

from lbh_platform.settings import load_settings
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.tables import load_tables
from lbh_platform_devkit.tascomi.simulator import TascomiSimulator
from lbh_platform_tests.test_backfill_records import check_status

pytestmark = pytest.mark.integration
LONDON = ZoneInfo("Europe/London")
TABLE = "appeals"
DAY = date(2024, 3, 6)
# Runs start when submitted and execute in this process (no queue, code server or worker).
IN_PROCESS_RUNS = {
    "run_coordinator": {
        "module": "dagster._core.run_coordinator",
        "class": "DefaultRunCoordinator",
    },
    "run_launcher": {
        "module": "dagster._core.launcher.sync_in_memory_run_launcher",
        "class": "SyncInMemoryRunLauncher",
    },
}
DEFINITIONS_FILE = """\
from lbh_platform.definitions import build_definitions
from lbh_platform.settings import load_settings
from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
from lbh_platform.tascomi.tables import load_tables

defs = build_definitions(
    load_tables({tables!r}), ColumnTypeCatalogue.load(), load_settings()
)
"""
FINISHED = {BulkActionStatus.COMPLETED_SUCCESS, BulkActionStatus.COMPLETED_FAILED}


def key(stage: str) -> dg.AssetKey:
    return dg.AssetKey(["tascomi", stage, f"{TABLE}_{stage}"])


def plant_duplicate_id(lake: Lake) -> None:
    """One record of the day twice, with different content: the blocking check fails."""
    store = tascomi_table(lake, "api_response", TABLE)
    raw = store.read(DAY.strftime("%Y%m%d"))
    record = json.loads(raw[TABLE][0].as_py())
    record["last_updated"] = "1999-01-01 00:00:00"
    planted = raw.slice(0, 1).set_column(
        raw.column_names.index(TABLE), TABLE, pa.array([json.dumps(record)])
    )
    store.write(DAY.strftime("%Y%m%d"), pa.concat_tables([raw, planted]))


def launch_backfill_as_the_ui_does(context: WorkspaceProcessContext, stages: list[str]) -> str:
    result = execute_dagster_graphql(
        context.create_request_context(),
        LAUNCH_PARTITION_BACKFILL_MUTATION,
        variables={
            "backfillParams": {
                "assetSelection": [{"path": key(stage).path} for stage in stages],
                "partitionNames": [DAY.isoformat()],
            }
        },
    )
    launched = result.data["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def run_daemon_until_finished(context: WorkspaceProcessContext, backfill_id: str) -> None:
    logger = logging.getLogger("backfill-daemon")
    for _ in range(10):
        for error in execute_backfill_iteration(context, logger):
            assert error is None, error
        if context.instance.get_backfill(backfill_id).status in FINISHED:
            return
    raise AssertionError(f"backfill {backfill_id} did not finish")


@pytest.fixture()
def simulator(zones, catalogue, tmp_path, monkeypatch):
    config = tmp_path / "tables.yaml"
    config.write_text(f"tables:\n  - {{name: {TABLE}}}\n")
    sim = TascomiSimulator(load_tables(config), catalogue, epoch=DAY - timedelta(days=20))
    monkeypatch.setenv("TASCOMI_API_URL", sim.start())
    monkeypatch.setenv("TASCOMI_PUBLIC_KEY", "sim-public-key")
    monkeypatch.setenv("TASCOMI_PRIVATE_KEY", "sim-private-key")
    sim.set_now(datetime.combine(DAY + timedelta(days=1), time(3), LONDON))
    yield config
    sim.stop()


def test_a_one_day_backfill_records_its_checks_on_that_day(simulator, tmp_path: Path):
    module = tmp_path / "one_day_backfill_defs.py"
    module.write_text(DEFINITIONS_FILE.format(tables=str(simulator)))
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=str(module), attribute="defs", working_directory=None),
        location_name="lbh_platform",
    )
    settings = load_settings()
    lake = Lake({"raw": settings.raw_zone, "refined": settings.refined_zone})
    with (
        dg.instance_for_test(overrides=IN_PROCESS_RUNS) as instance,
        WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as context,
    ):
        # The raw day first (its own one-day backfill), then a planted duplicate id.
        raw_backfill = launch_backfill_as_the_ui_does(context, ["api_response"])
        run_daemon_until_finished(context, raw_backfill)
        plant_duplicate_id(lake)
        parsed_backfill = launch_backfill_as_the_ui_does(context, ["parsed"])
        run_daemon_until_finished(context, parsed_backfill)

        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": parsed_backfill}))
        assert len(runs) == 1
        tags = runs[0].tags
        # The case at issue: a range of one day, no partition tag.
        assert tags[ASSET_PARTITION_RANGE_START_TAG] == tags[ASSET_PARTITION_RANGE_END_TAG]
        assert tags[ASSET_PARTITION_RANGE_START_TAG] == DAY.isoformat()
        assert PARTITION_NAME_TAG not in tags
        assert runs[0].status == dg.DagsterRunStatus.FAILURE  # the blocking check failed

        day = DAY.isoformat()
        assert check_status(instance, key("parsed"), "id_import_date_unique") == {day: "failed"}
        assert check_status(instance, key("parsed"), "id_complete") == {day: "passed"}
        assert check_status(instance, key("api_response"), "row_count_vs_history") == {
            day: "passed"
        }
