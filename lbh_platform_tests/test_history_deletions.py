"""A source that deletes (an event stream's tombstones, a full export's missing ids): a deletion
ends a version without opening one, the ended version says so, a deleted id can come back, and
"as of D" is the true state of every day whether the history was kept daily (through
compactions) or rebuilt in one pass."""

import random
from datetime import date, datetime, timedelta

import pyarrow as pa
import pytest

from lbh_platform.history import arrow_files, maintain
from lbh_platform.history.segments import Policy
from lbh_platform.history.source import HistorySource, history_table
from lbh_platform.storage.lake import Lake

FIRST = date(2024, 5, 1)
DAYS = 25
POLICY = Policy(max_days=2, open_share=1.0, catch_up=4, closed_share=0.3)


def value(day: date) -> str:
    return day.strftime("%Y%m%d")


class Stream:
    """A day's changed entities (whole state) and deleted ids, with the true state after it."""

    def __init__(self, seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.state: dict[int, dict] = {}
        self.truth: dict[str, dict[int, dict]] = {}
        self.deleted: dict[str, list[int]] = {}
        self.next_id = 1

    def day(self, day: date) -> pa.Table:
        changed: dict[int, dict] = {}
        gone: list[int] = []
        count = 20 if day == FIRST else 5
        for n in range(count):
            roll = self.rng.random()
            if day != FIRST and roll < 0.25 and self.state:
                victim = self.rng.choice(sorted(set(self.state) - set(changed)))
                del self.state[victim]
                gone.append(victim)
                continue
            if day != FIRST and roll < 0.4 and self.deleted:  # a deleted id comes back
                record = self.rng.choice([i for ids in self.deleted.values() for i in ids])
                if record in self.state or record in gone:
                    continue
            elif day == FIRST or roll > 0.7:
                record, self.next_id = self.next_id, self.next_id + 1
            else:
                record = self.rng.choice(sorted(self.state))
                if record in gone:
                    continue
            row = {
                "id": record,
                "last_updated": datetime.combine(day, datetime.min.time()) + timedelta(hours=n),
                "name": f"{record}@{day}#{n}",
            }
            changed[record] = row
            self.state[record] = row
        self.deleted[value(day)] = gone
        self.truth[value(day)] = dict(self.state)
        rows = list(changed.values())
        return pa.table(
            {
                "id": pa.array([r["id"] for r in rows], pa.int32()),
                "last_updated": pa.array([r["last_updated"] for r in rows], pa.timestamp("us")),
                "name": pa.array([r["name"] for r in rows], pa.string()),
            }
        )


def source_of(lake: Lake, stream: Stream) -> HistorySource:
    def deleted(valid_from: str, imports) -> pa.Array:  # noqa: ANN001
        return pa.array(stream.deleted.get(valid_from, []), pa.int32())

    return HistorySource(
        what="entities history",
        history=history_table(lake, "refined", "history", "entities", "db"),
        increments=lake.table("refined", "changes", "entities", "import_date"),
        id_column="id",
        deleted=deleted,
    )


def matches_truth(history, stream: Stream, day: str) -> None:  # noqa: ANN001
    got = maintain.as_of(history, day)
    rows = {r["id"]: r for r in got.to_pylist()} if got.num_rows else {}
    truth = stream.truth[day]
    assert set(rows) == set(truth), f"as of {day}: ids differ"
    for record, row in truth.items():
        assert rows[record]["name"] == row["name"], f"as of {day}: id {record}"


@pytest.fixture()
def lake(tmp_path):
    return Lake({"refined": str(tmp_path / "refined")})


def test_deletions_end_versions_and_as_of_is_the_true_state(lake, monkeypatch):
    monkeypatch.setattr(arrow_files, "ROW_GROUP_VALUES", 20)
    monkeypatch.setattr(arrow_files, "MIN_GROUP_ROWS", 3)
    stream = Stream()
    source = source_of(lake, stream)
    compactions = []
    for n in range(DAYS):
        day = value(FIRST + timedelta(days=n))
        source.increments.write(day, stream.day(FIRST + timedelta(days=n)))
        compactions.append(maintain.update(source, day, policy=POLICY).metadata["compaction"])
        for earlier in stream.truth:
            matches_truth(source.history, stream, earlier)
    assert any(c.startswith("major") for c in compactions)
    assert any(c.startswith("minor") for c in compactions)
    assert sum(len(ids) for ids in stream.deleted.values()) > 10
    daily = maintain.versions(source.history).to_pylist()
    # One row per version: the changes, never the deletions.
    changed_rows = sum(source.increments.read(v).num_rows for v in source.increments.partitions())
    assert len(daily) == changed_rows
    for day, ids in stream.deleted.items():
        for record in ids:
            ended = [r for r in daily if r["id"] == record and r["valid_to"] == _date(day)]
            assert len(ended) == 1 and ended[0]["is_deleted"] and not ended[0]["is_current"]
    maintain.rebuild(source, policy=POLICY)
    rebuilt = maintain.versions(source.history).to_pylist()
    assert _sorted(rebuilt) == _sorted(daily)
    for day in stream.truth:
        matches_truth(source.history, stream, day)


def test_an_id_both_changed_and_deleted_in_one_batch_is_refused(lake):
    stream = Stream()
    source = source_of(lake, stream)
    source.increments.write(value(FIRST), stream.day(FIRST))
    stream.deleted[value(FIRST)] = [1]  # id 1 is also in the day's changes
    with pytest.raises(Exception, match="both changed and deleted"):
        maintain.update(source, value(FIRST), policy=POLICY)
    assert source.history.partitions() == []


def _date(day: str) -> date:
    return datetime.strptime(day, "%Y%m%d").date()


def _sorted(rows: list[dict]) -> list[tuple]:
    return sorted(tuple(sorted((k, str(v)) for k, v in r.items())) for r in rows)
