"""A history read off snapshots (Alloy, event streams): "as of D" is snapshot D for every day
of a multi-week run with updates, deletions, a deleted key coming back, nested values, a
column appearing later and a table keyed by two columns; a rebuilt snapshot is followed; the
history does not hold a snapshot written after it."""

import random
from datetime import date, timedelta

import pyarrow as pa
import pytest

from lbh_platform.common.errors import DataError
from lbh_platform.common.import_columns import SNAPSHOT_COLUMNS, snapshot_columns
from lbh_platform.history import from_snapshots, maintain
from lbh_platform.history.from_snapshots import HISTORY_KEY, SnapshotHistory
from lbh_platform.history.segments import Policy
from lbh_platform.history.source import history_table
from lbh_platform.storage.lake import Lake

FIRST = date(2024, 6, 3)
DAYS = 24
NEW_COLUMN_FROM = FIRST + timedelta(days=9)
MEMBER = pa.struct([("id", pa.string()), ("name", pa.string())])


def value(day: date) -> str:
    return day.strftime("%Y%m%d")


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake({"refined": str(tmp_path / "refined")})


def tables(lake: Lake, name: str, keys: tuple[str, ...], ignore=()) -> SnapshotHistory:  # noqa: ANN001
    def table(stage: str) -> object:
        return lake.table("refined", stage, name, "snapshot_date")

    return SnapshotHistory(
        what=f"test {name} history",
        snapshots=table("snapshot"),
        changes=table("history_changes"),
        deleted=table("history_deleted"),
        history=history_table(lake, "refined", "history", name, "db"),
        keys=keys,
        ignore=tuple(ignore),
    )


class World:
    """Entities with nested members; some change, some go, some come back, each day."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.state: dict[str, dict] = {}
        self.gone: list[str] = []
        self.next = 1

    def day(self, day: date) -> pa.Table:
        if day == FIRST:
            for _ in range(30):
                self._new(day)
        else:
            for _ in range(4):
                self.state[self.rng.choice(sorted(self.state))]["status"] = f"s{day}"
            for _ in range(2):
                self._new(day)
            victim = self.rng.choice(sorted(self.state))
            del self.state[victim]
            self.gone.append(victim)
            if day.day % 3 == 0 and self.gone:  # a deleted key comes back
                back = self.gone.pop(0)
                self.state[back] = {"id": back, "status": f"back {day}", "members": []}
            member = self.state[self.rng.choice(sorted(self.state))]
            member["members"] = [*member["members"], {"id": f"p{day}", "name": "n"}]
        rows = sorted(self.state.values(), key=lambda r: r["id"])
        table = pa.table(
            {
                "id": pa.array([r["id"] for r in rows], pa.string()),
                "status": pa.array([r["status"] for r in rows], pa.string()),
                "members": pa.array([r["members"] for r in rows], pa.list_(MEMBER)),
            }
        )
        if day >= NEW_COLUMN_FROM:
            table = table.append_column("extra", pa.array([f"x{r['id']}" for r in rows]))
        for name, values in snapshot_columns(table.num_rows, day).items():
            table = table.append_column(name, values)
        return table

    def _new(self, day: date) -> None:
        key = f"e{self.next:03d}"
        self.next += 1
        self.state[key] = {"id": key, "status": f"new {day}", "members": []}


def canonical(table: pa.Table, key: str) -> list[dict]:
    table = table.drop_columns(
        [c for c in (*SNAPSHOT_COLUMNS, HISTORY_KEY) if c in table.column_names]
    )
    return sorted(table.to_pylist(), key=lambda r: r[key])


def same(got: pa.Table, snapshot: pa.Table, key: str) -> None:
    want = canonical(snapshot, key)
    got_rows = canonical(got.select([c for c in got.column_names if c != HISTORY_KEY]), key)
    # A column the snapshot lacks (added later) is null in the history's "as of".
    columns = set(want[0]) if want else set()
    assert [{k: r.get(k) for k in columns} for r in got_rows] == want
    for row in got_rows:
        assert all(row[c] is None for c in set(row) - columns)


def test_as_of_every_day_is_that_days_snapshot_through_compactions(lake, monkeypatch):
    monkeypatch.setattr(maintain, "DEFAULT_POLICY", Policy(max_days=3, open_share=0.3, catch_up=3))
    source = tables(lake, "entities", ("id",))
    world = World(3)
    for n in range(DAYS):
        day = FIRST + timedelta(days=n)
        source.snapshots.write(value(day), world.day(day))
        report = from_snapshots.update(source, value(day))
        assert report.stage == "history" and report.partition == value(day)
        assert from_snapshots.behind(source, value(day)) is None
    for n in range(DAYS):
        v = value(FIRST + timedelta(days=n))
        same(maintain.as_of(source.history, v), source.snapshots.read(v), "id")
    versions = maintain.versions(source.history)
    deleted = [r for r in versions.to_pylist() if r["is_deleted"]]
    assert deleted, "deletions end versions"
    # An unchanged entity is one version, not one a day.
    assert versions.num_rows < 30 + DAYS * 8


def test_a_rebuilt_snapshot_is_followed_and_until_then_the_history_is_behind(lake):
    source = tables(lake, "entities", ("id",))
    world = World(5)
    days = [FIRST + timedelta(days=n) for n in range(6)]
    for day in days:
        source.snapshots.write(value(day), world.day(day))
        from_snapshots.update(source, value(day))
    # Day 3's snapshot is rebuilt with a different status for one entity.
    third = value(days[2])
    rebuilt = source.snapshots.read(third)
    status = rebuilt["status"].to_pylist()
    status[0] = "rebuilt"
    rebuilt = rebuilt.set_column(1, "status", pa.array(status))
    source.snapshots.write(third, rebuilt)
    assert "snapshot " + third in (from_snapshots.behind(source, value(days[-1])) or "")
    from_snapshots.update(source, value(days[-1]))
    assert from_snapshots.behind(source, value(days[-1])) is None
    for day in days:
        same(maintain.as_of(source.history, value(day)), source.snapshots.read(value(day)), "id")


def test_a_table_keyed_by_two_columns(lake):
    source = tables(lake, "links", ("item", "root"))
    snapshots = {
        value(FIRST): [("a", "r1", 1), ("b", "r1", 1), ("a", "r2", 1)],
        value(FIRST + timedelta(days=1)): [("a", "r1", 2), ("a", "r2", 1)],
        value(FIRST + timedelta(days=2)): [("a", "r1", 2), ("a", "r2", 1), ("b", "r1", 3)],
    }
    for v, rows in snapshots.items():
        table = pa.table(
            {
                "item": [r[0] for r in rows],
                "root": [r[1] for r in rows],
                "n": pa.array([r[2] for r in rows], pa.int64()),
            }
        )
        source.snapshots.write(v, table)
        from_snapshots.update(source, v)
    for v, rows in snapshots.items():
        got = maintain.as_of(source.history, v)
        assert sorted(
            zip(got["item"].to_pylist(), got["root"].to_pylist(), got["n"].to_pylist(), strict=True)
        ) == sorted(rows)


def test_ignored_columns_do_not_make_versions(lake):
    source = tables(lake, "full", ("id",), ignore=("import_date",))
    for n in range(4):
        v = value(FIRST + timedelta(days=n))
        source.snapshots.write(
            v, pa.table({"id": ["1", "2"], "x": ["a", "b"], "import_date": [v, v]})
        )
        from_snapshots.update(source, v)
    assert maintain.versions(source.history).num_rows == 2


def test_the_history_needs_its_snapshot_and_a_key_in_every_row(lake):
    source = tables(lake, "entities", ("id",))
    with pytest.raises(DataError, match="snapshot 20240603 is not published"):
        from_snapshots.update(source, "20240603")
    source.snapshots.write("20240603", pa.table({"id": ["1", None], "x": ["a", "b"]}))
    with pytest.raises(DataError, match="20240603: 1 snapshot row"):
        from_snapshots.update(source, "20240603")
    assert not source.history.partitions()
