"""Fault injection, vendor APIs: transient faults are retried to a complete result; a
permanent failure fails the partition with a clear error and publishes nothing."""

import json
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from lbh_platform.common.http import ApiRequestError, AuthenticationError, RetryPolicy
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi import stages
from lbh_platform.tascomi.client import TascomiClient
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.tables import TascomiTable
from lbh_platform_tests.tascomi_stand_in import simulator_at

pytestmark = pytest.mark.faults
LONDON = ZoneInfo("Europe/London")
DAY = date(2024, 3, 6)
TABLE = TascomiTable("appeals")
FAST = RetryPolicy(max_attempts=6, backoff_base=0.01, backoff_max=0.05, read_timeout=0.5)


@pytest.fixture(scope="module")
def simulator(catalogue):
    with simulator_at(TABLE, catalogue, DAY, page_size=20) as sim:
        yield sim


@pytest.fixture()
def lake(tmp_path):
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


def client(sim, private_key="sim-private-key"):
    return TascomiClient(
        sim.base_url, "sim-public-key", private_key, policy=FAST, max_pages_in_flight=3
    )


def expected_ids(sim) -> set[str]:
    return {str(r["id"]) for r in sim.state("appeals", datetime.combine(DAY, time(0), LONDON))}


def imported_ids(lake) -> list[str]:
    raw = tascomi_table(lake, "api_response", "appeals").read(DAY.strftime("%Y%m%d"))
    return [json.loads(t)["id"] for t in raw["appeals"].to_pylist()]


TRANSIENT = [
    ("500", {"times": 3}),
    ("503", {"times": 2, "page": 2}),
    ("429", {"times": 2, "retry_after": 0.05}),
    ("slow", {"times": 2, "delay": 1.0, "page": 3}),
    ("drop", {"times": 2}),
    ("truncated", {"times": 2, "page": 2}),
    ("not_json", {"times": 2, "page": 1}),
]


@pytest.mark.parametrize(("kind", "options"), TRANSIENT, ids=[k for k, _ in TRANSIENT])
def test_transient_faults_are_retried_and_the_result_is_complete(
    simulator, lake, faults, kind, options
):
    simulator.clear_faults()
    simulator.inject(kind, resource="appeals", **options)
    with client(simulator) as api:
        report = stages.ingest(lake, TABLE, DAY, api.fetch)
    got = imported_ids(lake)
    lost = len(expected_ids(simulator) - set(got))
    faults.record(options["times"], survived=lost == 0 and len(got) == len(set(got)), lost=lost)
    assert lost == 0 and sorted(got) == sorted(expected_ids(simulator))
    assert report.rows == len(got)


def test_a_page_that_fails_permanently_fails_the_partition_naming_table_page_status(
    simulator, lake, faults
):
    simulator.clear_faults()
    tascomi_table(lake, "api_response", "appeals").write(DAY.strftime("%Y%m%d"), _previous())
    simulator.inject("500", resource="appeals", page=2, times=100)
    with client(simulator) as api, pytest.raises(ApiRequestError) as error:
        stages.ingest(lake, TABLE, DAY, api.fetch)
    simulator.clear_faults()
    message = str(error.value)
    assert "appeals" in message and "page 2" in message and "500" in message
    # Nothing partial was published: the earlier version of the partition is intact.
    intact = tascomi_table(lake, "api_response", "appeals").read(DAY.strftime("%Y%m%d"))
    faults.record(survived=intact.num_rows == 1, corrupted=int(intact.num_rows != 1))
    assert intact.num_rows == 1


def test_bad_credentials_fail_fast_with_a_clear_message(simulator, lake, faults):
    simulator.clear_faults()
    before = len(simulator.request_log)
    with (
        client(simulator, private_key="wrong-key") as api,
        pytest.raises(AuthenticationError) as error,
    ):
        stages.ingest(lake, TABLE, DAY, api.fetch)
    requests_made = len(simulator.request_log) - before
    faults.record(survived=requests_made == 1)
    assert requests_made == 1
    assert "401" in str(error.value) and "wrong-key" not in str(error.value)
    assert tascomi_table(lake, "api_response", "appeals").partitions() == []


def _previous():
    import pyarrow as pa

    return pa.table(
        {"appeals": ['{"id": "1"}'], "import_api_status_code": pa.array([200], pa.int32())}
    )
