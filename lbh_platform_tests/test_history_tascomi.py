"""A Tascomi table's history, kept daily through a multi-week run of the real stages (a missed
snapshot day, a column that appears later, compactions of both kinds), answers "as of D"
exactly as snapshot D for every day, and a rebuild in one pass gives the same versions."""

import json
import random
from datetime import date, timedelta

import pyarrow as pa
import pytest

from lbh_platform.common.import_columns import SNAPSHOT_COLUMNS
from lbh_platform.history import arrow_files, maintain
from lbh_platform.history.columns import STORED
from lbh_platform.history.segments import Policy
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi import stages
from lbh_platform.tascomi.history import history_source as tascomi_source
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.tables import TascomiTable
from lbh_platform_tests.test_faults_data import Page

TABLE = TascomiTable("contacts")
TYPES = {"id": "integer", "last_updated": "timestamp"}
FIRST = date(2024, 3, 4)
DAYS = 22
MISSED = FIRST + timedelta(days=7)  # imported, but its snapshot never ran
NEW_COLUMN_FROM = FIRST + timedelta(days=10)
SMALL = Policy(max_days=2, open_share=0.3, catch_up=3, closed_share=0.2)


class Api:
    """Each record's newest version, filtered by the calendar day of ``last_updated``."""

    def __init__(self) -> None:
        self.records: dict[str, dict] = {}

    def edit(self, record_id: int, day: date, hour: int, **fields: str) -> None:
        key = str(record_id)
        old = self.records.get(key, {})
        self.records[key] = {**old, "id": key, "last_updated": f"{day} {hour:02d}:00:00", **fields}

    def fetch(self, resource: str, day: date | None, held_records: int | None = None) -> list[Page]:
        served = [
            r for r in self.records.values() if day is None or r["last_updated"][:10] == str(day)
        ]
        return [Page(1, f"u/{resource}/{day}", 200, served)] if served else []


def value(day: date) -> str:
    return day.strftime("%Y%m%d")


def edits(api: Api, day: date, rng: random.Random) -> None:
    """A full load's worth on the first day, then a few updates and new ids each day."""
    count = 40 if day == FIRST else 6
    known = len(api.records)
    for n in range(count):
        new = day == FIRST or n >= 4
        record = known + n + 1 if new else rng.randint(1, known)
        fields = {"name": f"{record}@{day}#{n}"}
        if day >= NEW_COLUMN_FROM and n % 2 == 0:
            fields["ward"] = f"w{rng.randint(1, 9)}"
        api.edit(record, day - timedelta(days=1), 1 + n % 20, **fields)


def run_days(lake: Lake, days: int = DAYS, on_snapshot=None) -> list[str]:  # noqa: ANN001
    """The stages day by day; every day but ``MISSED`` gets its snapshot (then
    ``on_snapshot(value)``). Returns the snapshot days."""
    api, rng = Api(), random.Random(7)
    built = []
    for n in range(days):
        day = FIRST + timedelta(days=n)
        edits(api, day, rng)
        stages.ingest(lake, TABLE, day, api.fetch)
        stages.parse(lake, TABLE, day)
        stages.refine(lake, TABLE, day, TYPES)
        if day == MISSED:
            continue
        stages.snapshot(lake, TABLE, day)
        built.append(value(day))
        if on_snapshot is not None:
            on_snapshot(value(day))
    return built


def rows_by_id(table: pa.Table) -> dict:
    return {r["id"]: r for r in table.to_pylist()}


def assert_as_of_is_snapshot(lake: Lake, history, day: str, engine=None) -> None:  # noqa: ANN001
    snapshot = tascomi_table(lake, "snapshot", TABLE.name).read(day)
    snapshot = snapshot.drop_columns([c for c in SNAPSHOT_COLUMNS if c in snapshot.column_names])
    got = maintain.as_of(history, day, engine)
    if not isinstance(got, pa.Table):
        got = got.toArrow()
    missing = set(snapshot.column_names) - set(got.column_names)
    assert not missing, f"as of {day}: columns {missing} missing"
    later = [c for c in got.column_names if c not in snapshot.column_names]
    for column in later:  # columns that only appear after the day: all null
        assert got[column].null_count == got.num_rows, f"as of {day}: {column} not null"
    assert got.num_rows == snapshot.num_rows, f"as of {day}: {got.num_rows} != {snapshot.num_rows}"
    expected = rows_by_id(snapshot)
    actual = rows_by_id(got.select(snapshot.column_names))
    assert actual == expected, f"as of {day} differs from snapshot {day}"


def canonical(table: pa.Table) -> list[str]:
    return sorted(json.dumps(r, default=str, sort_keys=True) for r in table.to_pylist())


@pytest.fixture()
def lake(tmp_path):
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


@pytest.fixture()
def small_row_groups(monkeypatch):
    monkeypatch.setattr(arrow_files, "ROW_GROUP_VALUES", 60)
    monkeypatch.setattr(arrow_files, "MIN_GROUP_ROWS", 4)


def test_daily_history_answers_as_of_every_day_as_its_snapshot(lake, small_row_groups):
    source = tascomi_source(lake, TABLE.name)
    reports = []

    def maintain_daily(day: str) -> None:
        reports.append(maintain.update(source, day, policy=SMALL))
        for earlier in built_so_far(day):
            assert_as_of_is_snapshot(lake, source.history, earlier)

    def built_so_far(day: str) -> list[str]:
        return tascomi_table(lake, "snapshot", TABLE.name).partitions()

    built = run_days(lake, on_snapshot=maintain_daily)
    assert value(MISSED) not in built
    compactions = [r.metadata["compaction"] for r in reports]
    assert any(c.startswith("minor") for c in compactions)
    assert any(c.startswith("major") for c in compactions)
    # The missed day's import reached the history in the next snapshot's batch, dated then.
    missed_batch = next(r for r in reports if r.partition == value(MISSED + timedelta(days=1)))
    assert missed_batch.metadata["batches_applied"] == [value(MISSED + timedelta(days=1))]
    state = maintain.state_of(source.history)
    batch = next(b for b in state.batches if b.valid_from == value(MISSED + timedelta(days=1)))
    assert batch.imports == (value(MISSED), value(MISSED + timedelta(days=1)))
    # As of the missed day: what the snapshot before it held.
    previous = maintain.as_of(source.history, value(MISSED))
    before = maintain.as_of(source.history, value(MISSED - timedelta(days=1)))
    assert canonical(previous) == canonical(before)
    # Nothing before the first day.
    assert maintain.as_of(source.history, value(FIRST - timedelta(days=1))).num_rows == 0

    daily = maintain.versions(source.history)
    maintain.rebuild(source)
    rebuilt = maintain.versions(source.history)
    assert canonical(daily) == canonical(rebuilt)
    for day in built:
        assert_as_of_is_snapshot(lake, source.history, day)
    kinds = {s.kind for s in maintain.state_of(source.history).segments}
    assert kinds == {"base", "closed"}


def test_versions_are_one_row_per_version_with_exact_validity(lake):
    source = tascomi_source(lake, TABLE.name)
    built = run_days(lake, days=12)
    maintain.rebuild(source)
    table = maintain.versions(source.history)
    keys = [(r["id"], r["valid_from"]) for r in table.to_pylist()]
    assert len(keys) == len(set(keys))
    by_id: dict = {}
    for row in table.to_pylist():
        by_id.setdefault(row["id"], []).append(row)
    for versions in by_id.values():
        versions.sort(key=lambda r: r["valid_from"])
        for older, newer in zip(versions, versions[1:], strict=False):
            assert older["valid_to"] == newer["valid_from"] and not older["is_current"]
        assert versions[-1]["valid_to"] is None and versions[-1]["is_current"]
    last = tascomi_table(lake, "snapshot", TABLE.name).read(built[-1])
    assert sum(table["is_current"].to_pylist()) == last.num_rows


def test_a_rerun_day_rewrites_its_batch_and_a_compacted_one_rebuilds(lake):
    source = tascomi_source(lake, TABLE.name)
    api, rng = Api(), random.Random(3)
    days = [FIRST + timedelta(days=n) for n in range(5)]
    for day in days:
        edits(api, day, rng)
        stages.ingest(lake, TABLE, day, api.fetch)
        stages.parse(lake, TABLE, day)
        stages.refine(lake, TABLE, day, TYPES)
        stages.snapshot(lake, TABLE, day)
        maintain.update(source, value(day), policy=Policy(max_days=8, open_share=100.0))
    # Day 4 re-run after an edit the API now serves: its increment and snapshot change.
    api.edit(1, days[3], 23, name="late edit")
    stages.ingest(lake, TABLE, days[4], api.fetch)
    stages.parse(lake, TABLE, days[4])
    stages.refine(lake, TABLE, days[4], TYPES)
    stages.snapshot(lake, TABLE, days[4])
    report = maintain.update(source, value(days[4]), policy=Policy(max_days=8, open_share=100.0))
    assert report.metadata["batches_applied"] == [value(days[4])]
    assert not report.metadata["rebuilt"]
    for day in days:
        assert_as_of_is_snapshot(lake, source.history, value(day))
    # Re-running the first day (compacted into the base) rebuilds the history in one pass.
    stages.refine(lake, TABLE, days[0], TYPES)
    report = maintain.update(source, value(days[4]), policy=Policy(max_days=8, open_share=100.0))
    assert report.metadata["rebuilt"]
    for day in days:
        assert_as_of_is_snapshot(lake, source.history, value(day))


def test_segment_footers_hold_statistics_of_the_validity_columns_only(lake, small_row_groups):
    """ "As of D" prunes row groups by valid_from and valid_to; min/max of the record columns
    would prune nothing in a segment sorted by validity, and cost write time."""
    source = tascomi_source(lake, TABLE.name)
    run_days(lake, on_snapshot=lambda day: maintain.update(source, day, policy=SMALL))
    maintain.rebuild(source)
    names = source.history.partitions()
    assert len(names) > 1
    for name in names:
        with source.history.open_parquet(name) as parquet:
            meta = parquet.metadata
            assert meta.num_row_groups > 1, name
            for index in range(meta.num_row_groups):
                group = meta.row_group(index)
                chunks = [group.column(c) for c in range(group.num_columns)]
                with_statistics = {c.path_in_schema for c in chunks if c.is_stats_set}
                assert with_statistics == set(STORED), f"{name} row group {index}"
    snapshot = tascomi_table(lake, "snapshot", TABLE.name)
    with snapshot.open_parquet(snapshot.partitions()[-1]) as parquet:
        group = parquet.metadata.row_group(0)
        assert all(group.column(c).is_stats_set for c in range(group.num_columns))
