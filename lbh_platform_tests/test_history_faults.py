"""A history write killed at any step (a day, a compaction before or after it commits, a
rebuild half-way) leaves the history answering "as of D" as before or as after, for Python and
SQL readers alike, and the next write finishes or discards it; bad batches are refused with
the table, batch and cause, nothing written."""

import threading
from datetime import timedelta

import duckdb
import pyarrow as pa
import pytest

from lbh_platform.catalog import history_sql
from lbh_platform.common.errors import DataError
from lbh_platform.history import arrow_files, maintain
from lbh_platform.history.segments import Policy
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import PartitionedTable, PartitionWriter
from lbh_platform_tests.test_history_deletions import FIRST, Stream, matches_truth, source_of, value

pytestmark = pytest.mark.faults
QUIET = Policy(max_days=100, open_share=100.0, catch_up=100)


class Killed(OSError):
    pass


@pytest.fixture()
def lake(tmp_path, monkeypatch):
    monkeypatch.setattr(arrow_files, "ROW_GROUP_VALUES", 20)
    monkeypatch.setattr(arrow_files, "MIN_GROUP_ROWS", 3)
    return Lake({"refined": str(tmp_path / "refined")})


def kept_days(lake: Lake, days: int = 8):
    stream = Stream(5)
    source = source_of(lake, stream)
    for n in range(days):
        day = FIRST + timedelta(days=n)
        source.increments.write(value(day), stream.day(day))
        maintain.update(source, value(day), policy=QUIET)
    return stream, source


def next_day(stream: Stream, source, n: int) -> str:  # noqa: ANN001
    day = FIRST + timedelta(days=n)
    source.increments.write(value(day), stream.day(day))
    return value(day)


def all_true(stream: Stream, history: PartitionedTable, sql: str | None = None) -> None:
    for day in stream.truth:
        matches_truth(history, stream, day)
        if sql is not None:
            assert sql_ids(sql, history, day) == set(stream.truth[day]), f"SQL as of {day}"


def sql_ids(path: str, history: PartitionedTable, day: str) -> set:
    """What a SQL reader listing every file sees (not only the live segments)."""
    glob = f"{history.base}/segment=*/part-0.parquet"
    with duckdb.connect(path) as connection:
        connection.execute("create schema if not exists db")
        connection.execute(
            f"create or replace view db.h as select * from read_parquet('{glob}', "
            "hive_partitioning = true, union_by_name = true)"
        )
        connection.execute(history_sql.as_of_sql("db", "h", "id"))
        rows = connection.sql(f"select id from db.h_as_of('{day}')").fetchall()
    return {r[0] for r in rows}


def kill_publish(monkeypatch, marker: str) -> None:  # noqa: ANN001
    original = PartitionedTable._publish

    def publish(self, temporary: str, final: str) -> None:  # noqa: ANN001
        if marker in final:
            raise Killed(f"killed publishing {final}")
        original(self, temporary, final)

    monkeypatch.setattr(PartitionedTable, "_publish", publish)


def test_a_compaction_killed_before_it_commits_changes_nothing(lake, tmp_path, monkeypatch, faults):
    stream, source = kept_days(lake)
    before = maintain.state_of(source.history).names()
    with monkeypatch.context() as patched, pytest.raises(Killed):
        kill_publish(patched, "segment=base-")
        maintain.compact(source)
    published = source.history.partitions()
    assert any(p.startswith("closed-") for p in published)  # an orphan, on disk
    assert maintain.state_of(source.history).names() == before
    all_true(stream, source.history, str(tmp_path / "sql.duckdb"))
    day = next_day(stream, source, 8)
    maintain.update(source, day, policy=Policy(max_days=100, open_share=0.01))
    assert not [p for p in source.history.partitions() if p not in maintain.state_of(
        source.history).names()]  # fmt: skip
    all_true(stream, source.history, str(tmp_path / "sql.duckdb"))
    faults.record(survived=True)


def test_a_compaction_killed_after_it_commits_is_finished_by_the_next_write(
    lake, tmp_path, monkeypatch, faults
):
    stream, source = kept_days(lake)
    original = PartitionedTable.remove_partition
    calls = []

    def remove(self, value: str) -> bool:  # noqa: ANN001
        calls.append(value)
        if len(calls) == 2:  # after the first replaced segment went
            raise Killed("killed removing replaced segments")
        return original(self, value)

    with monkeypatch.context() as patched, pytest.raises(Killed):
        patched.setattr(PartitionedTable, "remove_partition", remove)
        maintain.compact(source)
    state = maintain.state_of(source.history)
    assert state.pending_removal and state.base is not None
    all_true(stream, source.history, str(tmp_path / "sql.duckdb"))  # SQL sees both: still right
    maintain.update(source, next_day(stream, source, 8), policy=QUIET)
    assert not maintain.state_of(source.history).pending_removal
    all_true(stream, source.history, str(tmp_path / "sql.duckdb"))
    faults.record(survived=True)


def test_a_rebuild_killed_half_way_leaves_the_history_as_it_was(
    lake, tmp_path, monkeypatch, faults
):
    stream, source = kept_days(lake)
    before = sorted(source.history.partitions())
    original = arrow_files.Groups.add
    calls = []

    def add(self, table: pa.Table) -> None:  # noqa: ANN001
        calls.append(1)
        if len(calls) == 5:
            raise Killed("killed mid-rebuild")
        original(self, table)

    monkeypatch.setattr(arrow_files.Groups, "add", add)
    with pytest.raises(Killed):
        maintain.rebuild(source)
    assert sorted(source.history.partitions()) == before
    all_true(stream, source.history, str(tmp_path / "sql.duckdb"))
    faults.record(survived=True)


def test_a_day_killed_at_publish_is_applied_by_the_rerun(lake, monkeypatch, faults):
    stream, source = kept_days(lake)
    day = next_day(stream, source, 8)
    with monkeypatch.context() as patched, pytest.raises(Killed):
        kill_publish(patched, f"segment=day-{day}")
        maintain.update(source, day, policy=QUIET)
    assert f"day-{day}" not in source.history.partitions()
    maintain.update(source, day, policy=QUIET)
    all_true(stream, source.history)
    faults.record(survived=True)


def test_a_batch_whose_ids_do_not_cast_is_refused_naming_it(lake, faults):
    stream, source = kept_days(lake, days=3)
    maintain.compact(source)
    before = sorted(source.history.partitions())
    day = value(FIRST + timedelta(days=3))
    source.increments.write(day, pa.table({"id": ["x-1"], "name": ["bad"]}))
    with pytest.raises(DataError) as raised:
        maintain.update(source, day, policy=QUIET)
    message = str(raised.value)
    assert f"entities history batch {day}" in message and "'id' is int32" in message
    assert sorted(source.history.partitions()) == before
    faults.record(survived=True)


def test_a_history_ahead_of_its_snapshot_is_refused(lake, faults):
    from lbh_platform.tascomi.history import history_source as tascomi_source

    source = tascomi_source(lake, "contacts")
    with pytest.raises(DataError, match="snapshot 20240301 is not published"):
        maintain.update(source, "20240301")
    faults.record(survived=True)


def test_a_rebuild_whose_writer_fails_leaves_the_history_as_it_was(
    lake, tmp_path, monkeypatch, faults
):
    """Row groups are encoded on a writer thread: its failure still fails the rebuild with its
    own cause, publishes nothing and leaves no thread behind."""
    stream, source = kept_days(lake)
    before = sorted(source.history.partitions())
    original = PartitionWriter.write
    calls = []

    def write(self, table: pa.Table) -> None:  # noqa: ANN001
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise Killed("disk full while encoding a row group")
        original(self, table)

    monkeypatch.setattr(PartitionWriter, "write", write)
    with pytest.raises(Killed, match="disk full"):
        maintain.rebuild(source)
    assert calls and all(name.startswith("history-write") for name in calls)
    assert not [t for t in threading.enumerate() if t.name.startswith("history-write")]
    assert sorted(source.history.partitions()) == before
    monkeypatch.setattr(PartitionWriter, "write", original)
    all_true(stream, source.history, str(tmp_path / "sql.duckdb"))
    report = maintain.rebuild(source)
    assert report.rows == maintain.versions(source.history).num_rows
    all_true(stream, source.history)
    faults.record(survived=True)
