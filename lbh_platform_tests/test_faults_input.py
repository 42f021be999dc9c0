"""Fault injection, bad input from the Tascomi API: the answer arrives but lies about its size
or is malformed. No record may be silently dropped or duplicated: each ends in the right
snapshot row, or the partition fails with an error naming table, partition and page (and the
earlier version of the partition stays as it was)."""

import json
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from lbh_platform.common.errors import DataError
from lbh_platform.common.http import ApiRequestError, RetryPolicy
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi import stages
from lbh_platform.tascomi.client import TascomiClient
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.quality import uniqueness
from lbh_platform.tascomi.tables import TascomiTable
from lbh_platform_tests.tascomi_stand_in import simulator_at

pytestmark = pytest.mark.faults
LONDON = ZoneInfo("Europe/London")
DAY = date(2024, 3, 6)
VALUE = "20240306"
TABLE = TascomiTable("appeals")
PAGE = 20
FAST = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.02, read_timeout=2.0)


@pytest.fixture(scope="module")
def simulator(catalogue):
    with simulator_at(TABLE, catalogue, DAY, PAGE) as sim:
        yield sim


@pytest.fixture()
def lake(tmp_path):
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


@pytest.fixture()
def sim(simulator):
    simulator.clear_faults()
    yield simulator
    simulator.clear_faults()


def truth(sim) -> dict[int, dict]:
    """The API's current records by id, as the snapshot should hold them."""
    return {int(r["id"]): r for r in sim.state("appeals", datetime.combine(DAY, time(0), LONDON))}


def run_all(sim, lake, catalogue):
    with TascomiClient(sim.base_url, "sim-public-key", "sim-private-key", policy=FAST) as api:
        reports = [stages.ingest(lake, TABLE, DAY, api.fetch)]
    reports += [
        stages.parse(lake, TABLE, DAY),
        stages.refine(lake, TABLE, DAY, catalogue.columns("appeals")),
        stages.snapshot(lake, TABLE, DAY),
    ]
    return {report.stage: report for report in reports}


def snapshot_ids(lake) -> list[int]:
    return tascomi_table(lake, "snapshot", "appeals").read(VALUE)["id"].to_pylist()


def record_outcome(faults, sim, lake) -> tuple[int, int]:
    """Lost and duplicated records of the published snapshot, recorded in the suite's tally."""
    ids = snapshot_ids(lake)
    lost = len(set(truth(sim)) - set(ids))
    duplicated = len(ids) - len(set(ids))
    faults.record(survived=lost == 0 and duplicated == 0, lost=lost, corrupted=int(duplicated > 0))
    return lost, duplicated


def test_an_under_reported_count_loses_no_record_on_the_pages_past_it(sim, lake, catalogue, faults):
    # Page 1 claims two pages' worth fewer results: pages 9 and 10 lie past the claimed end.
    sim.inject("under_count", resource="appeals", page=1, count=2 * PAGE)
    reports = run_all(sim, lake, catalogue)
    assert record_outcome(faults, sim, lake) == (0, 0)
    assert sorted(snapshot_ids(lake)) == sorted(truth(sim))
    assert reports["api_response"].metadata["pages"] == 10


def test_an_over_reported_count_ends_in_empty_pages_and_the_exact_result(
    sim, lake, catalogue, faults
):
    sim.inject("over_count", resource="appeals", page=1, count=3 * PAGE)
    before = len(sim.request_log)
    run_all(sim, lake, catalogue)
    asked = {int(p["page"]) for r, p, _ in sim.request_log[before:] if r == "appeals"}
    assert asked == set(range(1, 14))  # the 13 pages announced, 11-13 empty
    assert record_outcome(faults, sim, lake) == (0, 0)
    assert sorted(snapshot_ids(lake)) == sorted(truth(sim))


def test_ids_mixing_integers_and_strings_across_pages_end_in_one_typed_row_each(
    sim, lake, catalogue, faults
):
    sim.inject("int_ids", resource="appeals", page=2, times=2)
    sim.inject("int_ids", resource="appeals", page=7, times=2)
    run_all(sim, lake, catalogue)
    raw = tascomi_table(lake, "api_response", "appeals").read(VALUE)["appeals"].to_pylist()
    kinds = {type(json.loads(text)["id"]) for text in raw}
    assert kinds == {int, str}  # the raw zone keeps what the API sent
    snapshot = tascomi_table(lake, "snapshot", "appeals").read(VALUE)
    assert snapshot.schema.field("id").type == pa.int32()
    assert record_outcome(faults, sim, lake) == (0, 0)
    rows = {row["id"]: row for row in snapshot.to_pylist()}
    for record_id, record in truth(sim).items():
        assert (
            rows[record_id]["last_updated"].strftime("%Y-%m-%d %H:%M:%S")
            == (record["last_updated"])
        )


def test_a_record_without_id_fails_the_partition_naming_table_partition_and_page(sim, lake, faults):
    earlier = pa.table({"appeals": ['{"id":"1"}'], "import_api_status_code": pa.array([200])})
    tascomi_table(lake, "api_response", "appeals").write(VALUE, earlier)
    sim.inject("no_id", resource="appeals", page=4)
    with (
        TascomiClient(sim.base_url, "sim-public-key", "sim-private-key", policy=FAST) as api,
        pytest.raises(DataError) as error,
    ):
        stages.ingest(lake, TABLE, DAY, api.fetch)
    message = str(error.value)
    assert "tascomi appeals partition 20240306 page 4" in message
    assert "record 1 has no 'id'" in message and "nothing was published" in message
    intact = tascomi_table(lake, "api_response", "appeals").read(VALUE)
    faults.record(survived=intact.num_rows == 1, corrupted=int(intact.num_rows != 1))
    assert intact.num_rows == 1


def test_a_page_of_non_utf8_bytes_fails_the_partition_naming_table_partition_and_page(
    sim, lake, faults
):
    earlier = pa.table({"appeals": ['{"id":"1"}'], "import_api_status_code": pa.array([200])})
    tascomi_table(lake, "api_response", "appeals").write(VALUE, earlier)
    sim.inject("not_utf8", resource="appeals", page=3, times=FAST.max_attempts)
    with (
        TascomiClient(sim.base_url, "sim-public-key", "sim-private-key", policy=FAST) as api,
        pytest.raises(ApiRequestError) as error,
    ):
        stages.ingest(lake, TABLE, DAY, api.fetch)
    message = str(error.value)
    assert "tascomi appeals partition 20240306" in message and "page 3" in message
    assert "not valid UTF-8 (byte " in message
    intact = tascomi_table(lake, "api_response", "appeals").read(VALUE)
    faults.record(survived=intact.num_rows == 1, corrupted=int(intact.num_rows != 1))
    assert intact.num_rows == 1


def test_one_id_on_two_pages_with_different_last_updated_keeps_the_newer_version_once(
    sim, lake, catalogue, faults
):
    first = min(truth(sim))
    sim.inject("edited_during_paging", resource="appeals", page=10)
    reports = run_all(sim, lake, catalogue)
    assert reports["api_response"].metadata["superseded_versions_dropped"] == 1
    parsed = tascomi_table(lake, "parsed", "appeals").read(VALUE)
    assert uniqueness(parsed, ["id", "import_date"]).passed  # the blocking check lets it on
    assert record_outcome(faults, sim, lake) == (0, 0)
    rows = [r for r in tascomi_table(lake, "snapshot", "appeals").read(VALUE).to_pylist()]
    edited = [r for r in rows if r["id"] == first]
    assert len(edited) == 1 and edited[0]["last_updated"].strftime("%H:%M:%S") == "23:59:59"
    assert len(rows) == len(truth(sim))
