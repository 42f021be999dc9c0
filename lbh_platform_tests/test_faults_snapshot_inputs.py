"""A snapshot is built from its base plus every import since it, each as it is now, or not at
all: a blocked, killed or missed day, or an import re-run under published snapshots, fails the
snapshot loudly (table, days, the way out) and the proof check, instead of publishing a smaller
or staler table with green checks."""

import json
import os
import time
from datetime import date, datetime, timedelta

import pyarrow as pa
import pytest

from lbh_platform.common import lineage
from lbh_platform.common.errors import DataError
from lbh_platform.storage import partitioned_table
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi import stages
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.tables import TascomiTable
from lbh_platform_tests.test_faults_data import Page

pytestmark = pytest.mark.faults
TABLE = TascomiTable("contacts")
TYPES = {"id": "integer", "last_updated": "timestamp"}
D0 = date(2024, 3, 4)
D1, D2, D3, D4 = (D0 + timedelta(days=n) for n in range(1, 5))


class Api:
    """The API as the real one behaves: only each record's newest version, filtered by the
    calendar day of ``last_updated``; an unfiltered request is a full load."""

    def __init__(self) -> None:
        self.records: dict[str, dict] = {}
        self.versions: list[dict] = []
        self.duplicate: tuple[date, dict] | None = None  # a second record served on a day

    def edit(self, record_id: int, day: date, **fields: str) -> None:
        key = str(record_id)
        old = self.records.get(key, {})
        self.records[key] = {**old, "id": key, "last_updated": f"{day} 10:00:00", **fields}
        self.versions.append(self.records[key])

    def truth(self, day: date | None = None) -> dict[int, dict]:
        """What snapshot ``day`` must hold: every record at its newest version up to that day
        (None: now)."""
        held: dict[int, dict] = {}
        for version in self.versions:
            if day is None or version["last_updated"][:10] <= str(day):
                held[int(version["id"])] = version
        return held

    def fetch(self, resource: str, day: date | None, held_records=None) -> list[Page]:
        served = [
            r for r in self.records.values() if day is None or r["last_updated"][:10] == str(day)
        ]
        if self.duplicate is not None and (day is None or self.duplicate[0] == day):
            served.append(self.duplicate[1])
        return [Page(1, f"u/{resource}/{day}", 200, served)] if served else []


@pytest.fixture()
def lake(tmp_path):
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


def value(day: date) -> str:
    return day.strftime("%Y%m%d")


def ingest(lake, api, day):
    return stages.ingest(lake, TABLE, day, api.fetch)


def refine(lake, day):
    stages.parse(lake, TABLE, day)
    stages.refine(lake, TABLE, day, TYPES)


def run_day(lake, api, day):
    ingest(lake, api, day)
    refine(lake, day)
    return stages.snapshot(lake, TABLE, day)


def snapshot_of(lake, day) -> dict[int, dict]:
    rows = tascomi_table(lake, "snapshot", TABLE.name).read(value(day)).to_pylist()
    return {r["id"]: r for r in rows}


def matches(lake, day, truth) -> bool:
    held = snapshot_of(lake, day)
    return set(held) == set(truth) and all(
        held[i]["last_updated"].strftime("%Y-%m-%d %H:%M:%S") == truth[i]["last_updated"]
        and held[i].get("name") == truth[i].get("name")
        for i in truth
    )


def blocked_day(lake, api, day):
    """``day`` serves a conflicting duplicate id: the blocking uniqueness check stops its
    increment and snapshot, so only api_response and parsed are published."""
    api.duplicate = (day, {"id": "2", "last_updated": f"{day} 10:00:00", "name": "clash"})
    ingest(lake, api, day)
    stages.parse(lake, TABLE, day)
    api.duplicate = None


def history(api) -> None:
    for i in range(1, 6):
        api.edit(i, D0 - timedelta(days=1), name=f"v0-{i}")


def refused(lake, day, *days: date):
    """The snapshot of ``day`` fails naming the table and the import days, nothing published."""
    with pytest.raises(DataError) as raised:
        stages.snapshot(lake, TABLE, day)
    message = str(raised.value)
    assert f"tascomi contacts snapshot {value(day)} is not published" in message
    for missing in days:
        assert f"import {value(missing)} is not applied" in message
    assert f"backfill every stage of contacts from {min(days)} to {day}" in message
    assert value(day) not in tascomi_table(lake, "snapshot", TABLE.name).partitions()
    return message


def test_a_blocked_day_fails_the_next_snapshot_instead_of_losing_its_versions(lake, faults):
    api = Api()
    history(api)
    run_day(lake, api, D0)
    api.edit(1, D1, name="v1-1")
    api.edit(6, D1, name="v1-6")
    blocked_day(lake, api, D1)
    api.edit(3, D2, name="v2-3")
    ingest(lake, api, D2)  # the next day: its window starts at D1 and drops D1's versions
    refine(lake, D2)
    message = refused(lake, D2, D1)
    assert "its increment is not materialised" in message
    faults.record(survived=True)


def test_a_run_killed_after_api_response_fails_the_next_snapshot(lake, faults):
    api = Api()
    history(api)
    run_day(lake, api, D0)
    api.edit(2, D1, name="v1-2")
    ingest(lake, api, D1)  # killed here: no parsed, no increment
    api.edit(4, D2, name="v2-4")
    ingest(lake, api, D2)
    refine(lake, D2)
    assert "its parsed is not materialised" in refused(lake, D2, D1)
    faults.record(survived=True)


def test_a_blocked_day_then_a_missed_day_then_a_run(lake, faults):
    api = Api()
    history(api)
    run_day(lake, api, D0)
    api.edit(1, D1, name="v1-1")
    blocked_day(lake, api, D1)
    api.edit(2, D2, name="v2-2")  # D2 is never run: its records come with D3's window
    api.edit(3, D3, name="v3-3")
    ingest(lake, api, D3)
    refine(lake, D3)
    refused(lake, D3, D1)
    faults.record(survived=True)


def test_a_day_blocked_again_before_anyone_re_ran_it_after_the_vendor_fixed_it(lake, faults):
    api = Api()
    history(api)
    run_day(lake, api, D0)
    api.edit(1, D1, name="v1-1")
    blocked_day(lake, api, D1)
    # The vendor fixes the data the same day; nobody re-runs D1 before D2's run.
    api.edit(2, D2, name="v2-2")
    ingest(lake, api, D2)
    refine(lake, D2)
    refused(lake, D2, D1)
    faults.record(survived=True)


def test_one_ranged_backfill_after_the_fix_restores_every_snapshot(lake, faults):
    api = Api()
    history(api)
    run_day(lake, api, D0)
    api.edit(1, D1, name="v1-1")
    api.edit(6, D1, name="v1-6")
    blocked_day(lake, api, D1)
    api.edit(3, D2, name="v2-3")
    ingest(lake, api, D2)
    refine(lake, D2)
    refused(lake, D2, D1)
    api.edit(5, D3, name="v3-5")
    ingest(lake, api, D3)
    refine(lake, D3)
    refused(lake, D3, D1)
    # Fixed (no duplicate any more): one ranged backfill D1..D3, stage by stage in date order,
    # as the single-run backfill executes it.
    days = (D1, D2, D3)
    for day in days:
        ingest(lake, api, day)
    for day in days:
        stages.parse(lake, TABLE, day)
    for day in days:
        stages.refine(lake, TABLE, day, TYPES)
    for day in days:
        stages.snapshot(lake, TABLE, day)
    # Each record was edited at most once in the range, so re-reading the API now gives
    # every day's state as it was.
    for day in days:
        assert matches(lake, day, api.truth(day)), day
        assert stages.inputs_outcome(lake, TABLE, value(day)).passed
    faults.record(survived=True)


def test_an_import_re_run_under_published_snapshots_makes_them_unsound(lake, faults):
    api = Api()
    history(api)
    for day in (D0, D1, D2):
        api.edit(int(day.day), day, name=f"v-{day}")
        run_day(lake, api, day)
    assert stages.inputs_outcome(lake, TABLE, value(D2)).passed
    ingest(lake, api, D1)  # api_response of D1 re-run alone, after snapshots D1 and D2
    outcome = stages.inputs_outcome(lake, TABLE, value(D2))
    assert not outcome.passed
    assert "snapshot 20240305" in outcome.description
    assert outcome.metadata["first_unsound_snapshot"] == value(D1)
    ingest(lake, api, D3)
    refine(lake, D3)
    with pytest.raises(DataError, match="its base chain is not current: snapshot 20240305"):
        stages.snapshot(lake, TABLE, D3)
    faults.record(survived=True)


def test_the_check_fails_when_a_raw_import_between_base_and_snapshot_was_not_applied(lake, faults):
    api = Api()
    history(api)
    run_day(lake, api, D0)
    api.edit(2, D2, name="v2-2")
    run_day(lake, api, D2)  # D1 never imported: nothing to miss yet
    assert stages.inputs_outcome(lake, TABLE, value(D2)).passed
    # An import of D1 appears afterwards (a backfill of api_response alone).
    stages.ingest(lake, TABLE, D1, api.fetch)
    outcome = stages.inputs_outcome(lake, TABLE, value(D2))
    assert not outcome.passed
    assert outcome.metadata["imports_not_applied"] == [value(D1)]
    faults.record(survived=True)


def test_a_snapshot_gap_filled_later_keeps_the_chain_sound(lake):
    api = Api()
    history(api)
    run_day(lake, api, D0)
    api.edit(1, D1, name="v1-1")
    ingest(lake, api, D1)
    refine(lake, D1)  # snapshot D1 fails for another reason (say, memory) and is not built
    api.edit(2, D2, name="v2-2")
    run_day(lake, api, D2)  # built on D0 with imports D1 and D2
    stages.snapshot(lake, TABLE, D1)  # the gap filled afterwards
    assert stages.inputs_outcome(lake, TABLE, value(D2)).passed
    api.edit(3, D3, name="v3-3")
    report = run_day(lake, api, D3)
    assert report.metadata["base_snapshot_date"] == value(D2)
    assert matches(lake, D3, api.truth())


def test_metadata_lists_the_base_and_every_increment_applied(lake):
    api = Api()
    history(api)
    run_day(lake, api, D0)
    for day in (D1, D2):
        api.edit(day.day, day, name="x")
        ingest(lake, api, day)
        refine(lake, day)
    report = stages.snapshot(lake, TABLE, D2)  # snapshot D1 was never built
    assert report.metadata["base_snapshot_date"] == value(D0)
    assert report.metadata["increments_applied"] == [value(D1), value(D2)]
    outcome = stages.inputs_outcome(lake, TABLE, value(D2))
    assert outcome.passed and outcome.metadata["imports_applied"] == [value(D1), value(D2)]


def test_lineage_rules_on_listings():
    stages_ = [
        lineage.Stage("api_response", {"1": 1.0, "2": 5.0, "3": 3.0}),
        lineage.Stage("increment", {"1": 2.0, "2": 4.0, "3": 4.0}),
    ]
    inputs = lineage.Inputs(stages_, {"1": 2.5, "3": 6.0})
    assert inputs.unready("2") == "its increment was written before its api_response was re-run"
    assert lineage.verify(inputs, "1") is None
    unsound = lineage.verify(inputs, "3")
    assert unsound is not None and unsound.snapshot == "3" and unsound.first_day == "2"
    plan = lineage.plan(inputs, "4")
    assert plan.base == "3" and plan.applied == [] and not plan.ok and plan.first_day == "2"


IDS = ["1", "01", " 1", "+1", "1e0", "１", "99999999999", "abc"]


def test_ids_that_differ_as_text_never_merge_or_vanish_in_the_cast(lake, faults):
    day = D0
    pages = [Page(1, "u", 200, [{"id": i, "last_updated": f"{day} 09:00:00"} for i in IDS])]
    stages.ingest(lake, TABLE, day, lambda resource, asked, held_records=None: pages)
    stages.parse(lake, TABLE, day)
    parsed = tascomi_table(lake, "parsed", TABLE.name).read(value(day))
    assert parsed.num_rows == 8  # eight distinct texts: the uniqueness check passes
    report = stages.refine(lake, TABLE, day, TYPES)
    assert report.metadata["ids_lost_in_cast"] == 7
    outcome = stages.lost_ids_outcome(lake, TABLE, value(day))
    assert not outcome.passed
    assert sorted(outcome.metadata["ids_lost_sample"]) == sorted(set(IDS) - {"1"})
    with pytest.raises(DataError, match="would not survive the cast to integer"):
        stages.snapshot(lake, TABLE, day)
    assert tascomi_table(lake, "snapshot", TABLE.name).partitions() == []
    faults.record(survived=True)


def test_ids_kept_as_text_keep_every_record(lake):
    day = D0
    pages = [Page(1, "u", 200, [{"id": i, "last_updated": f"{day} 09:00:00"} for i in IDS])]
    stages.ingest(lake, TABLE, day, lambda resource, asked, held_records=None: pages)
    stages.parse(lake, TABLE, day)
    stages.refine(lake, TABLE, day, {"last_updated": "timestamp"})  # id untyped: text
    assert stages.lost_ids_outcome(lake, TABLE, value(day)).passed
    stages.snapshot(lake, TABLE, day)
    ids = tascomi_table(lake, "snapshot", TABLE.name).read(value(day))["id"].to_pylist()
    assert sorted(ids) == sorted(IDS)


def test_canonical_ids_pass_the_cast_rule(lake):
    day = D0
    texts = ["0", "7", "-3", "2147483647"]
    pages = [Page(1, "u", 200, [{"id": i, "last_updated": f"{day} 09:00:00"} for i in texts])]
    stages.ingest(lake, TABLE, day, lambda resource, asked, held_records=None: pages)
    stages.parse(lake, TABLE, day)
    stages.refine(lake, TABLE, day, TYPES)
    assert stages.lost_ids_outcome(lake, TABLE, value(day)).passed
    assert stages.snapshot(lake, TABLE, day).rows == 4


def test_litter_of_killed_writers_is_removed_by_the_next_publish(lake, faults, monkeypatch):
    monkeypatch.setattr(partitioned_table, "_last_swept", {})
    table = tascomi_table(lake, "snapshot", TABLE.name)
    table.write("20240304", pa.table({"id": [1]}))
    folder = table.partition_dir("20240304")
    old = time.time() - 2 * partitioned_table.TEMPORARY_MAX_AGE_SECONDS
    stale = f"{folder}/_tmp-dead.parquet"
    fresh = f"{folder}/_tmp-live.parquet"
    staging = f"{table.base}/_tmp-spark-dead"
    os.makedirs(staging)
    for path in (stale, fresh, f"{staging}/part-0.parquet"):
        with open(path, "wb") as handle:
            handle.write(b"partial")
    for path in (stale, staging, f"{staging}/part-0.parquet"):
        os.utime(path, (old, old))
    monkeypatch.setattr(partitioned_table, "_last_swept", {})
    table.write("20240304", pa.table({"id": [2]}))  # the re-run of the partition
    assert not os.path.exists(stale) and not os.path.exists(staging)
    assert os.path.exists(fresh)  # a writer still at work keeps its file
    assert table.read("20240304")["id"].to_pylist() == [2]
    faults.record(survived=True)


def test_unreadable_or_far_future_last_updated_is_taken_and_counted_never_held(lake, faults):
    day = D1
    records = [
        {"id": "1", "last_updated": "9999-12-31 00:00:00"},
        {"id": "2", "last_updated": "garbage"},
        {"id": "3", "last_updated": "2024-02-30 10:00:00"},
        {"id": "4", "last_updated": f"{day + timedelta(days=1)} 01:00:00"},  # next day: held
        {"id": "5", "last_updated": f"{day} 01:00:00"},
    ]
    report = stages.ingest(
        lake,
        TABLE,
        day,
        lambda resource, asked, held_records=None: [Page(1, "u", 200, records)],
        imported_at=datetime(2024, 3, 5, 3, 0),
    )
    assert report.metadata["records_updated_after_the_run"] == 1
    assert report.metadata["records_with_unreadable_last_updated"] == 2
    assert report.metadata["records_updated_after_import_date"] == 1
    raw = tascomi_table(lake, "api_response", TABLE.name).read(value(day))
    taken = sorted(json.loads(t)["id"] for t in raw[TABLE.name].to_pylist())
    assert taken == ["1", "2", "3", "5"]
    faults.record(3, survived=True)


def test_the_api_count_is_judged_against_what_the_table_held(lake):
    api = Api()
    history(api)
    seen: list[int | None] = []

    def fetch(resource, day, held_records=None):
        seen.append(held_records)
        return api.fetch(resource, day)

    stages.ingest(lake, TABLE, D0, fetch)
    refine(lake, D0)
    stages.snapshot(lake, TABLE, D0)
    stages.ingest(lake, TABLE, D1, fetch)
    assert seen == [None, 5, 5]  # no snapshot yet; then the 5 rows of snapshot D0, per day
