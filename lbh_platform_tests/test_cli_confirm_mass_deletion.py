"""Confirming a mass deletion from the command line, as README.md gives it:
``dagster job execute ... -o <snapshot step>,<check step> --tags '{"dagster/partition": ...,
"lbh/confirm_mass_deletion": "true"}'`` (``dagster asset materialize`` takes no tags). Run as
a subprocess against a DAGSTER_HOME holding the embedded default's dagster.yaml."""

import json
import os
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from lbh_platform.alloy import stages
from lbh_platform.alloy.client import AlloyClient
from lbh_platform.alloy.datasets import load_datasets
from lbh_platform.alloy.locations import alloy_table
from lbh_platform.common.deletion_guard import CONFIRM_TAG
from lbh_platform.common.http import RetryPolicy
from lbh_platform.storage.lake import Lake
from lbh_platform_devkit.alloy.simulator import AlloySimulator
from lbh_platform_devkit.local import INSTANCE_CONFIG
from lbh_platform_tests.test_backfill_records import check_status

pytestmark = pytest.mark.integration
LONDON = ZoneInfo("Europe/London")
DATASET = "waste_service_defect"  # a full export: items gone from it are deletions
DAY = date(2024, 3, 5)
NEXT = DAY + timedelta(days=1)
# The checkout, first on the subprocess path: its package, not an installed one.
ROOT = Path(__file__).resolve().parents[1]
FAST = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05)


def confirm_command(tags: dict[str, str]) -> list[str]:
    """README's command: the blocked snapshot's step and its dataset's snapshot-check step of
    ``alloy_pipeline``, for one partition."""
    snapshot_step = f"alloy_{DATASET}_{DATASET}_snapshot"
    check_step = f"alloy_{DATASET}_snapshot_checks"
    return [
        *(sys.executable, "-m", "dagster", "job", "execute"),
        *("-m", "lbh_platform.definitions", "-j", "alloy_pipeline"),
        *("-o", f"{snapshot_step},{check_step}"),
        *("--tags", json.dumps(tags)),
    ]


@pytest.fixture()
def blocked_day(tmp_path: Path, zones) -> tuple[Lake, dict[str, str], int]:
    """DAY exported and snapshotted; NEXT's export of the root table nearly empty (a vendor
    fault or real deletions), the other tables unchanged and snapshotted."""
    raw, refined = zones
    dataset = next(d for d in load_datasets() if d.name == DATASET)
    lake = Lake({"raw": str(raw), "refined": str(refined)})
    with AlloySimulator([dataset], epoch=DAY - timedelta(days=10)) as sim:
        sim.set_now(datetime.combine(DAY, time(4), LONDON))
        client = AlloyClient(sim.base_url, "sim-alloy-key", policy=FAST, poll_interval=0.01)
        stages.export(lake, dataset, DAY, client.export)
    before = 0
    for table in dataset.tables:
        rows = stages.snapshot(lake, dataset, table, DAY).rows
        exports = alloy_table(lake, "api_response", DATASET, table)
        today = exports.read(DAY.strftime("%Y%m%d"))
        if table == DATASET:
            before = rows
            today = today.slice(0, 2)
        exports.write(NEXT.strftime("%Y%m%d"), today)
        if table != DATASET:
            stages.snapshot(lake, dataset, table, NEXT)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "LBH_RAW_ZONE": str(raw),
        "LBH_REFINED_ZONE": str(refined),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return lake, env, before


def test_the_cli_route_confirms_a_blocked_snapshot_and_nothing_else_does(
    blocked_day, tmp_path, monkeypatch
):
    lake, env, before = blocked_day
    snapshots = alloy_table(lake, "snapshot", DATASET, DATASET)
    partition = {"dagster/partition": NEXT.isoformat()}

    refused = subprocess.run(
        confirm_command(partition), env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "MassDeletionBlocked" in output and f"{CONFIRM_TAG}=true" in output
    assert NEXT.strftime("%Y%m%d") not in snapshots.partitions()

    confirmed = subprocess.run(
        confirm_command({**partition, CONFIRM_TAG: "true"}),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert confirmed.returncode == 0, confirmed.stderr[-3000:]
    published = snapshots.read(NEXT.strftime("%Y%m%d"))
    assert published.num_rows == 2 and before > 2

    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()  # newest first
        assert [run.status for run in runs] == [
            dg.DagsterRunStatus.SUCCESS,
            dg.DagsterRunStatus.FAILURE,
        ]
        assert runs[0].tags[CONFIRM_TAG] == "true"
        snapshot_key = dg.AssetKey(["alloy", "snapshot", DATASET, f"{DATASET}_snapshot"])
        latest = instance.fetch_materializations(snapshot_key, limit=1).records[0]
        assert latest.partition_key == NEXT.isoformat()
        assert latest.asset_materialization.metadata["dagster/row_count"].value == 2
        assert check_status(instance, snapshot_key, "key_unique_and_complete") == {
            NEXT.isoformat(): "passed"
        }
