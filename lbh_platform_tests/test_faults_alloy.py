"""Fault injection on the Alloy side: API faults retried to a complete export, a failed task
failing the partition without publishing, the mass-deletion guard on full exports, and hostile
exports (a CSV not in UTF-8, an oversized member, an item listed twice)."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from lbh_platform.alloy import stages
from lbh_platform.alloy.client import AlloyClient, AlloyExportError
from lbh_platform.alloy.datasets import load_datasets
from lbh_platform.alloy.locations import alloy_table
from lbh_platform.common.deletion_guard import MassDeletionBlocked
from lbh_platform.common.errors import DataError
from lbh_platform.common.http import RetryPolicy
from lbh_platform.storage.lake import Lake
from lbh_platform_devkit.alloy.simulator import AlloySimulator

pytestmark = pytest.mark.faults
LONDON = ZoneInfo("Europe/London")
DAY = date(2024, 3, 5)
FAST = RetryPolicy(max_attempts=5, backoff_base=0.01, backoff_max=0.05, max_retry_after=0.1)


@pytest.fixture()
def setup(tmp_path):
    datasets = {d.name: d for d in load_datasets()}
    sim = AlloySimulator(list(datasets.values()), epoch=DAY - timedelta(days=10))
    sim.start()
    sim.set_now(datetime.combine(DAY, time(4), LONDON))
    lake = Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})
    client = AlloyClient(
        sim.base_url, "sim-alloy-key", policy=FAST, poll_interval=0.01, max_wait=30
    )
    yield sim, lake, client, datasets
    sim.stop()


@pytest.mark.parametrize(
    ("status", "path", "times", "retry_after"),
    [(503, "export", 2, 0), (500, "task", 3, 0), (429, "file", 2, 1), (502, "export/", 2, 0)],
)
def test_transient_alloy_faults_are_retried(setup, faults, status, path, times, retry_after):
    sim, lake, client, datasets = setup
    dataset = datasets["waste_service_defect"]
    sim.inject(status, path=path, times=times, retry_after=retry_after)
    reports = stages.export(lake, dataset, DAY, client.export)
    truth = sim.state(dataset.name, datetime.combine(DAY, time(4), LONDON))[dataset.name]
    root = next(r for r in reports if r.table == dataset.name)
    lost = len(truth) - root.rows
    faults.record(times, survived=lost == 0, lost=max(lost, 0))
    assert lost == 0


def test_a_failed_export_task_fails_the_partition_and_publishes_nothing(setup, faults):
    sim, lake, client, datasets = setup
    dataset = datasets["graffiti"]
    sim.fail_next_task("Export failed: design locked")
    with pytest.raises(AlloyExportError, match="design locked"):
        stages.export(lake, dataset, DAY, client.export)
    published = [
        alloy_table(lake, "api_response", dataset.name, t).partitions() for t in dataset.tables
    ]
    faults.record(survived=published == [[]] * len(dataset.tables))
    assert published == [[]] * len(dataset.tables)


def test_mass_deletion_in_a_full_export_is_blocked_until_confirmed(setup, faults):
    sim, lake, client, datasets = setup
    dataset = datasets["waste_service_defect"]
    stages.export(lake, dataset, DAY, client.export)
    first = stages.snapshot(lake, dataset, dataset.name, DAY)
    # The next export comes back nearly empty (a vendor-side fault, not real deletions).
    next_day = DAY + timedelta(days=1)
    exports = alloy_table(lake, "api_response", dataset.name, dataset.name)
    exports.write(next_day.strftime("%Y%m%d"), exports.read(DAY.strftime("%Y%m%d")).slice(0, 2))
    with pytest.raises(MassDeletionBlocked, match=r"lbh/confirm_mass_deletion=true"):
        stages.snapshot(lake, dataset, dataset.name, next_day)
    snapshots = alloy_table(lake, "snapshot", dataset.name, dataset.name)
    blocked = snapshots.partitions() == [DAY.strftime("%Y%m%d")]
    confirmed = stages.snapshot(lake, dataset, dataset.name, next_day, confirm_deletions=True)
    faults.record(survived=blocked and confirmed.rows == 2, corrupted=int(not blocked))
    assert blocked and first.rows > 2 and confirmed.rows == 2
    assert confirmed.metadata["deleted"] == first.rows - 2


def test_small_deletions_pass_the_guard(setup):
    sim, lake, client, datasets = setup
    dataset = datasets["waste_service_defect"]
    stages.export(lake, dataset, DAY, client.export)
    first = stages.snapshot(lake, dataset, dataset.name, DAY)
    exports = alloy_table(lake, "api_response", dataset.name, dataset.name)
    today = exports.read(DAY.strftime("%Y%m%d"))
    exports.write("20240306", today.slice(1))
    report = stages.snapshot(lake, dataset, dataset.name, date(2024, 3, 6))
    assert report.metadata["deleted"] == 1 and report.rows == first.rows - 1
    assert isinstance(today, pa.Table)


# --------------------------------------------------------------------------- hostile exports


def latin1_root(dataset):
    """A tamper that re-encodes the root CSV in Latin-1 with a non-ASCII title first."""
    root = f"{dataset.file_name[:-4]}/{dataset.file_name}"

    def edit(members):
        header, first, rest = members[root].decode().split("\r\n", 2)
        cells = first.split(",")
        cells[1] = "Caf\xe9"
        members[root] = "\r\n".join([header, ",".join(cells), rest]).encode("latin-1")
        return members

    return edit


def test_a_latin1_root_csv_fails_naming_member_and_partition(setup, faults):
    sim, lake, client, datasets = setup
    dataset = datasets["graffiti"]
    sim.tamper_next_export(latin1_root(dataset))
    with pytest.raises(DataError) as error:
        stages.export(lake, dataset, DAY, client.export)
    message = str(error.value)
    named = all(
        part in message
        for part in (
            "alloy graffiti/graffiti partition 20240305",
            "'Graffiti/Graffiti.csv'",
            "not valid UTF-8: line 2",
        )
    )
    published = [
        alloy_table(lake, "api_response", dataset.name, t).partitions() for t in dataset.tables
    ]
    faults.record(survived=named and published == [[]] * len(dataset.tables))
    assert named, message
    assert published == [[]] * len(dataset.tables)  # joined tables were not published either


def test_a_latin1_member_the_dataset_does_not_use_is_ignored(setup, faults):
    sim, lake, client, datasets = setup
    dataset = datasets["graffiti"]

    def add_notes(members):
        members["Graffiti/JoinedDesign_Notes_9.csv"] = "Caf\xe9,\xa3\r\n".encode("latin-1")
        return members

    sim.tamper_next_export(add_notes)
    reports = stages.export(lake, dataset, DAY, client.export)
    truth = sim.state(dataset.name, datetime.combine(DAY, time(4), LONDON))[dataset.name]
    root = next(r for r in reports if r.table == dataset.name)
    lost = len(truth) - root.rows
    faults.record(survived=lost == 0, lost=max(lost, 0))
    assert lost == 0
    assert root.metadata["ignored_members"] == ["Graffiti/JoinedDesign_Notes_9.csv"]


def test_an_oversized_member_fails_naming_it(setup, faults):
    sim, lake, _, datasets = setup
    dataset = datasets["graffiti"]
    small = AlloyClient(
        sim.base_url, "sim-alloy-key", policy=FAST, poll_interval=0.01, max_member_bytes=2000
    )
    with pytest.raises(
        DataError,
        match=r"graffiti_incident_look_up_1 partition 20240305: export member "
        r"'Graffiti/JoinedDesign_Graffiti Incident Look Up_1.csv' is [\d,]+ bytes uncompressed",
    ):
        stages.export(lake, dataset, DAY, small.export)
    published = [
        alloy_table(lake, "api_response", dataset.name, t).partitions() for t in dataset.tables
    ]
    faults.record(survived=published == [[]] * len(dataset.tables))
    assert published == [[]] * len(dataset.tables)


@pytest.mark.parametrize("name", ["graffiti", "waste_service_defect"])
def test_an_item_exported_twice_keeps_its_newest_edit(setup, faults, name):
    sim, lake, client, datasets = setup
    dataset = datasets[name]
    sim.repeat_in_next_export(2)
    stages.export(lake, dataset, DAY, client.export)
    report = stages.snapshot(lake, dataset, dataset.name, DAY)
    truth = {
        r["Item ID"]: r
        for r in sim.state(dataset.name, datetime.combine(DAY, time(4), LONDON))[dataset.name]
    }
    edit = "last_edit_date" if dataset.header_type == "Name" else "lasteditdate"
    got = {
        r["item_id"]: r[edit]
        for r in alloy_table(lake, "snapshot", dataset.name, dataset.name)
        .read("20240305")
        .to_pylist()
    }
    stale = sum(
        got[i] != r["Last Edit Date" if edit == "last_edit_date" else "lastEditDate"]
        for i, r in truth.items()
    )
    outcome = stages.export_ids_outcome(lake, dataset, "20240305")
    counted = report.metadata["duplicate_ids"] == 2 and not outcome.passed
    faults.record(survived=stale == 0 and counted, corrupted=int(stale > 0))
    assert got.keys() == truth.keys() and stale == 0
    assert counted, (report.metadata, outcome)
