"""AlloyClient against the loopback AlloySimulator: export flow, polling, failures, secrets."""

import copy
import io
import logging
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from lbh_platform.alloy.client import (
    AlloyClient,
    AlloyExportError,
    AlloyExportTimeout,
    incremental_query,
    unzip_tables,
)
from lbh_platform.alloy.datasets import load_datasets
from lbh_platform.alloy.transforms import apply_renames, csv_to_table, upsert_snapshot
from lbh_platform.common.errors import DataError
from lbh_platform.common.http import AuthenticationError, RetryPolicy
from lbh_platform_devkit.alloy.simulator import DEFAULT_EPOCH, AlloySimulator, find_last_edit_after

KEY = "sim-alloy-key-0123456789"
NOON_DAY_5 = datetime.combine(DEFAULT_EPOCH + timedelta(days=5), datetime.min.time(), UTC).replace(
    hour=12
)
FAST = RetryPolicy(max_attempts=2, backoff_base=0.0, read_timeout=10.0)


class Sleeper:
    """A fake `sleep` that records delays and advances a fake monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.delays: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def datasets():
    return {d.name: d for d in load_datasets()}


@pytest.fixture()
def sim(datasets):
    with AlloySimulator(list(datasets.values()), api_key=KEY, polls_to_complete=2) as simulator:
        simulator.set_now(NOON_DAY_5)
        yield simulator


@pytest.fixture()
def sleeper():
    return Sleeper()


def make_client(sim, sleeper, key=KEY, **kwargs):
    options = dict(
        policy=FAST,
        poll_interval=1.0,
        poll_backoff=2.0,
        max_poll_interval=3.0,
        sleep=sleeper.sleep,
        clock=sleeper.clock,
        now=lambda: sim.now,
    )
    options.update(kwargs)
    return AlloyClient(sim.base_url, key, **options)


def task_polls(sim):
    return [path for method, path, _ in sim.request_log if path.startswith("/api/task/")]


def test_full_export_matches_ground_truth(sim, sleeper, datasets):
    dataset = datasets["fly_tip_jobs"]
    with make_client(sim, sleeper) as client:
        result = client.export(dataset, None)
    truth = sim.state("fly_tip_jobs", NOON_DAY_5)
    assert list(result.tables) == dataset.tables
    # The watermark is Alloy's own clock (its Date header), one second early for rounding.
    assert result.requested_at == NOON_DAY_5 - timedelta(seconds=1)
    assert result.reported_count == len(truth["fly_tip_jobs"]) > 0
    root = csv_to_table(result.tables["fly_tip_jobs"].lines())
    assert root.column_names[:3] == ["item_id", "title", "subtitle"]
    assert "last_edit_date" in root.column_names
    # Duplicate display names get their column index, as the existing rename files expect.
    assert {"description3", "description9"} <= set(root.column_names)
    assert root["item_id"].to_pylist() == [r["Item ID"] for r in truth["fly_tip_jobs"]]
    statuses = csv_to_table(result.tables["task_statuses_1"].lines())
    assert statuses.num_rows == root.num_rows
    renamed = apply_renames(statuses, dataset.renames["task_statuses_1"])
    assert {"status_id", "item_id", "item_title"} <= set(renamed.column_names)
    assert set(renamed["item_id"].to_pylist()) == set(root["item_id"].to_pylist())


def test_polls_with_backoff_until_complete(datasets, sleeper):
    with AlloySimulator([datasets["graffiti"]], api_key=KEY, polls_to_complete=5) as sim:
        sim.set_now(NOON_DAY_5)
        client = make_client(sim, sleeper)
        task_id = client.start_export(datasets["graffiti"].query, "Graffiti.csv")
        result = client.wait_for_task(task_id)
    assert result.status == "Complete" and result.polls == 5
    assert sleeper.delays == [1.0, 2.0, 3.0, 3.0]  # doubled, capped at max_poll_interval
    assert len(task_polls(sim)) == 5
    assert result.row_count == len(sim.state("graffiti", NOON_DAY_5)["graffiti"])


def test_row_count_is_none_when_the_task_reports_none(sim, sleeper, datasets):
    sim.report_counts = False
    result = make_client(sim, sleeper).export(datasets["graffiti"], None)
    assert result.reported_count is None
    assert csv_to_table(result.tables["graffiti"].lines()).num_rows > 0


def test_failed_task_raises_with_alloy_message(sim, sleeper, datasets):
    sim.fail_next_task("Export failed: attribute attributes_tasksStatus not found")
    client = make_client(sim, sleeper)
    with pytest.raises(AlloyExportError, match="attribute attributes_tasksStatus not found") as e:
        client.export(datasets["graffiti"], None)
    assert e.value.task_status == "Failed"
    assert not any("/file" in path for _, path, _ in sim.request_log)
    # The failure is one task's: the next export works.
    assert client.export(datasets["graffiti"], None).tables


def test_poll_timeout_with_fake_clock(datasets, sleeper):
    with AlloySimulator([datasets["graffiti"]], api_key=KEY, polls_to_complete=10_000) as sim:
        sim.set_now(NOON_DAY_5)
        client = make_client(sim, sleeper, max_wait=20.0)
        with pytest.raises(AlloyExportTimeout, match="max_wait is 20s"):
            client.export(datasets["graffiti"], None)
    assert sum(sleeper.delays) == pytest.approx(20.0)
    assert len(task_polls(sim)) == len(sleeper.delays) + 1  # a last poll at the deadline


def test_zip_with_several_csvs(sim, sleeper, datasets):
    dataset = datasets["waste_service_defect"]
    client = make_client(sim, sleeper)
    task_id = client.start_export(dataset.query, dataset.file_name, dataset.header_type)
    client.wait_for_task(task_id)
    content = client.download_export(task_id)
    names = zipfile.ZipFile(io.BytesIO(content)).namelist()
    assert names[0] == "Waste Service Defect/Waste Service Defect.csv"
    # Alloy's own naming: the joined designs' CSVs carry a JoinedDesign_ prefix.
    assert "Waste Service Defect/JoinedDesign_DW Service Type_5.csv" in names
    tables = unzip_tables(content, dataset.file_name, dataset.name).tables
    assert list(tables) == dataset.tables
    root = csv_to_table(tables["waste_service_defect"].lines())  # Code headers
    assert {"item_id", "attributes_defectsstatus", "lasteditdate"} <= set(root.column_names)
    nested = csv_to_table(tables["dw_service_type_5"].lines())
    premises = csv_to_table(tables["nlpg_premises_1"].lines())
    # The nested join hangs off the premises item, not the defect.
    assert set(nested["predecessor_item"].to_pylist()) <= set(premises["item_id"].to_pylist())


def test_unzip_unescapes_names_and_requires_the_root():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("A &amp; B/A &amp; B.csv", "Item ID\n1\n")
        archive.writestr("A &amp; B/Task Statuses_1.csv", "Item ID\n2\n")
        archive.writestr("A &amp; B/readme.txt", "ignored")
    unzipped = unzip_tables(buffer.getvalue(), "A & B.csv", "a_and_b")
    tables = {name: member.text() for name, member in unzipped.tables.items()}
    assert tables == {"a_and_b": "Item ID\n1\n", "task_statuses_1": "Item ID\n2\n"}
    assert unzipped.ignored == ["A & B/readme.txt"]
    with pytest.raises(DataError, match="no root CSV"):
        unzip_tables(buffer.getvalue(), "Other.csv")
    with pytest.raises(DataError, match="not a zip"):
        unzip_tables(b"<html>", "A & B.csv")


def test_incremental_query_ands_the_watermark_with_existing_filters():
    own_filter = {
        "type": "Equals",
        "children": [
            {"type": "Attribute", "properties": {"attributeCode": "attributes_premisesBlpuClass"}},
            {"type": "String", "properties": {"value": ["R", "RD"]}},
        ],
    }
    query = {"aqs": {"type": "Join", "properties": {"dodiCode": "designs_x"}, "children": []}}
    query["aqs"]["children"] = [own_filter]
    before = copy.deepcopy(query)
    watermark = datetime(2024, 3, 1, 6, 30, 15, 123456, tzinfo=UTC)

    combined = incremental_query(query, watermark)

    assert query == before  # input untouched
    (node,) = combined["aqs"]["children"]
    assert node["type"] == "And"
    assert node["children"][0] == own_filter  # the original filter survives
    assert node["children"][1]["children"][1]["properties"]["value"] == ["2024-03-01T06:30:15.123Z"]
    assert find_last_edit_after(combined["aqs"]["children"]) == watermark.replace(
        microsecond=123000
    )
    # No existing filter: the date filter alone, not wrapped.
    query["aqs"]["children"] = []
    (alone,) = incremental_query(query, watermark)["aqs"]["children"]
    assert alone["type"] == "GreaterThan"


def test_incremental_export_then_upsert_equals_ground_truth(sim, sleeper, datasets):
    dataset = datasets["graffiti"]
    client = make_client(sim, sleeper)
    first = client.export(dataset, None)
    snapshot = csv_to_table(first.tables["graffiti"].text())
    later = NOON_DAY_5 + timedelta(days=3)
    sim.set_now(later)
    second = client.export(dataset, first.requested_at)

    sent = sim.export_requests[-1]["aqs"]["children"]
    assert find_last_edit_after(sent) == first.requested_at
    day_rows = csv_to_table(second.tables["graffiti"].text())
    assert 0 < day_rows.num_rows < len(sim.state("graffiti", later)["graffiti"])
    assert all(v > "2023-01-07T12" for v in day_rows["last_edit_date"].to_pylist())

    merged, counts = upsert_snapshot(snapshot, day_rows)
    truth = {r["Item ID"]: r["Title"] for r in sim.state("graffiti", later)["graffiti"]}
    merged_ids = set(merged["item_id"].to_pylist())
    # Incremental exports cannot see deletions: the merged set is the truth plus deleted items.
    assert set(truth) <= merged_ids
    assert counts["inserted"] + counts["replaced"] == day_rows.num_rows
    assert counts["replaced"] > 0  # some items were edited, not only created
    merged_rows = {r["item_id"]: r for r in merged.to_pylist()}
    for row in day_rows.to_pylist():  # the latest import wins
        assert merged_rows[row["item_id"]] == row


def test_bearer_key_is_sent_but_never_logged(sim, sleeper, datasets, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(sim, sleeper)
    assert KEY not in repr(client)
    client.export(datasets["graffiti"], NOON_DAY_5 - timedelta(days=1))
    sim.fail_next_task(f"failed for key {KEY}")  # even an API echoing the key is scrubbed
    with pytest.raises(AlloyExportError) as failed:
        client.export(datasets["graffiti"], None)
    assert KEY not in str(failed.value) and "***" in str(failed.value)
    bad = make_client(sim, sleeper, key=KEY + "-wrong")
    with pytest.raises(AuthenticationError) as rejected:
        bad.export(datasets["graffiti"], None)
    assert KEY not in str(rejected.value)
    assert KEY not in caplog.text
    assert all(status in (200, 401) for _, _, status in sim.request_log)


def test_401_fails_fast_without_retry(sim, sleeper, datasets):
    client = make_client(sim, sleeper, key="not-the-key", policy=RetryPolicy(max_attempts=5))
    with pytest.raises(AuthenticationError, match="HTTP 401"):
        client.export(datasets["graffiti"], None)
    assert sim.request_log == [("POST", "/api/export", 401)]
    assert sleeper.delays == []
