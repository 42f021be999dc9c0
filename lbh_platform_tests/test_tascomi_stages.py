"""Stage bookkeeping: import windows after gaps, snapshots on the newest earlier snapshot."""

import json
from datetime import date

import pytest

from lbh_platform.common.errors import DataError
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi import stages
from lbh_platform.tascomi.client import Page
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.stages import import_window
from lbh_platform.tascomi.tables import TascomiTable

TABLE = TascomiTable("appeals")
TYPES = {"id": "integer", "last_updated": "timestamp", "n": "integer"}


class FakeApi:
    """Records keyed by last_updated day; remembers what was asked."""

    def __init__(self):
        self.by_day: dict[date, list[dict]] = {}
        self.asked: list[date | None] = []

    def add(self, day: date, record_id: int, n: str = "1"):
        self.by_day.setdefault(day, []).append(
            {"id": str(record_id), "last_updated": f"{day} 12:00:00", "n": n}
        )

    def fetch(self, resource: str, last_updated: date | None, held_records=None):
        self.asked.append(last_updated)
        if last_updated is None:
            records = [r for rs in self.by_day.values() for r in rs]
        else:
            records = self.by_day.get(last_updated, [])
        return [Page(1, f"http://api/{resource}", 200, records)] if records else []


@pytest.fixture()
def lake(tmp_path):
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


def run_day(lake, api, day):
    stages.ingest(lake, TABLE, day, api.fetch)
    stages.parse(lake, TABLE, day)
    stages.refine(lake, TABLE, day, TYPES)
    return stages.snapshot(lake, TABLE, day)


def test_window_is_previous_import_to_the_day_itself_and_full_load_first():
    assert import_window([], date(2024, 1, 5)).days is None
    window = import_window(["20240101", "20240103", "20240109"], date(2024, 1, 6))
    assert window.previous_import == "20240103"
    # The import day itself too: a record edited after midnight is on no earlier day.
    assert window.days == [date(2024, 1, d) for d in (3, 4, 5, 6)]
    assert import_window(["20231001"], date(2024, 1, 6)).days is None  # long gap: full load


def test_missed_day_loses_nothing_and_snapshot_builds_on_newest_earlier(lake):
    api = FakeApi()
    api.add(date(2024, 1, 1), 1)
    api.add(date(2024, 1, 2), 2)
    report = run_day(lake, api, date(2024, 1, 3))
    assert api.asked == [None]
    assert report.rows == 2 and report.metadata["base_snapshot_date"].startswith("none")
    api.add(date(2024, 1, 3), 3)
    api.add(date(2024, 1, 4), 1, n="2")  # record 1 updated
    # 2024-01-04 is missed entirely; 2024-01-05 must pick up both days.
    api.asked.clear()
    report = run_day(lake, api, date(2024, 1, 5))
    assert api.asked == [date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)]
    assert report.metadata["base_snapshot_date"] == "20240103"
    snap = tascomi_table(lake, "snapshot", "appeals").read("20240105")
    pairs = zip(snap["id"].to_pylist(), snap["n"].to_pylist(), strict=True)
    assert sorted(pairs) == [(1, 2), (2, 1), (3, 1)]


def test_rerunning_a_partition_replaces_it_exactly(lake):
    api = FakeApi()
    api.add(date(2024, 1, 1), 1)
    first = run_day(lake, api, date(2024, 1, 2))
    again = run_day(lake, api, date(2024, 1, 2))
    assert first.rows == again.rows == 1
    assert tascomi_table(lake, "api_response", "appeals").read("20240102").num_rows == 1


def test_snapshot_without_its_increment_names_table_and_partition(lake):
    with pytest.raises(
        DataError, match=r"appeals partition 20240102.*increment is not materialised"
    ):
        stages.snapshot(lake, TABLE, date(2024, 1, 2))


def test_api_failure_writes_nothing(lake):
    def failing(resource, day, held_records=None):
        raise RuntimeError("page 2 failed")

    with pytest.raises(RuntimeError):
        stages.ingest(lake, TABLE, date(2024, 1, 2), failing)
    assert tascomi_table(lake, "api_response", "appeals").partitions() == []


def test_versions_the_previous_import_holds_are_not_taken_again(lake):
    api = FakeApi()
    api.add(date(2024, 1, 1), 1)
    api.add(date(2024, 1, 2), 2)  # on the import day itself: taken by the run of 2024-01-02
    first = stages.ingest(lake, TABLE, date(2024, 1, 2), api.fetch)
    assert first.rows == 2
    api.add(date(2024, 1, 2), 3)  # later on 2024-01-02, after that run
    api.by_day[date(2024, 1, 2)].append(  # record 4: changed without a new last_updated
        {"id": "4", "last_updated": "2024-01-02 12:00:00", "n": "1"}
    )
    api.asked.clear()
    report = stages.ingest(lake, TABLE, date(2024, 1, 3), api.fetch)
    assert api.asked == [date(2024, 1, 2), date(2024, 1, 3)]
    raw = tascomi_table(lake, "api_response", "appeals").read("20240103")["appeals"].to_pylist()
    assert sorted(json.loads(t)["id"] for t in raw) == ["3", "4"]
    assert report.metadata["records_already_taken_by_previous_import"] == 1
    # A re-run of the earlier day against the same API gives the same rows.
    api.by_day[date(2024, 1, 2)] = api.by_day[date(2024, 1, 2)][:1]
    again = stages.ingest(lake, TABLE, date(2024, 1, 2), api.fetch)
    assert again.rows == first.rows


def test_a_record_edited_while_the_window_is_read_is_taken_once_at_its_newer_version(lake):
    api = FakeApi()
    api.add(date(2024, 1, 1), 1)
    stages.ingest(lake, TABLE, date(2024, 1, 1), api.fetch)
    api.add(date(2024, 1, 2), 7, n="old")
    newer = {"id": "7", "last_updated": "2024-01-03 03:00:05", "n": "new"}

    def fetch(resource, last_updated, held_records=None):
        pages = api.fetch(resource, last_updated)
        if last_updated == date(2024, 1, 3):  # asked last, after the edit
            return [Page(1, f"http://api/{resource}", 200, [newer])]
        return pages

    report = stages.ingest(lake, TABLE, date(2024, 1, 3), fetch)
    raw = tascomi_table(lake, "api_response", "appeals").read("20240103")["appeals"].to_pylist()
    assert [json.loads(t) for t in raw] == [newer]
    assert report.metadata["superseded_versions_dropped"] == 1
