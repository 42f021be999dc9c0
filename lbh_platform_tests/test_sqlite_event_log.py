"""The embedded default's event log (PooledSqliteEventLogStorage): Dagster's SQLite files,
read and written alike by Dagster's own class, with engines kept per shard, a bounded
number of them, and live run-log watching that still sees every event."""

import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from lbh_platform.deploy import sqlite_event_log
from lbh_platform.deploy.sqlite_event_log import PooledSqliteEventLogStorage
from lbh_platform_devkit.local import INSTANCE_CONFIG, prepare_local_environment


@dg.asset
def counted() -> int:
    return 1


@dg.asset_check(asset=counted)
def counted_is_one() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.op
def noop() -> None:
    pass


@dg.job
def noop_job() -> None:
    noop()


def _home(tmp_path: Path, config: str) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(config)
    return home


def _materialise(instance: dg.DagsterInstance) -> str:
    result = dg.materialize([counted], instance=instance, selection=[counted])
    assert result.success
    return result.run_id


def test_the_local_instance_uses_it_and_dagsters_own_class_reads_what_it_wrote(
    tmp_path, monkeypatch
):
    home = _home(tmp_path, INSTANCE_CONFIG)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        assert type(instance.event_log_storage) is PooledSqliteEventLogStorage
        assert instance.telemetry_enabled is False
        run_id = _materialise(instance)
        written = [e.dagster_event_type for e in instance.all_logs(run_id)]
    assert dg.DagsterEventType.ASSET_MATERIALIZATION in written

    # The same files with Dagster's stock storage (as before this class, or a plain home).
    stock = SqliteEventLogStorage(str(home / "history" / "runs"))
    try:
        assert [r.event_log_entry.dagster_event_type for r in _records(stock, run_id)] == written
        latest = stock.get_latest_materialization_events([dg.AssetKey("counted")])
        assert latest[dg.AssetKey("counted")].run_id == run_id
    finally:
        stock.dispose()

    # And a second run through the pooled class sees the first one's materialisation.
    with dg.DagsterInstance.get() as instance:
        second = _materialise(instance)
        event = instance.get_latest_materialization_event(dg.AssetKey("counted"))
        assert event is not None and event.run_id == second
        assert len(instance.get_runs()) == 2


def _records(storage: SqliteEventLogStorage, run_id: str):
    return storage.get_records_for_run(run_id).records


def test_engines_are_kept_per_shard_and_bounded(tmp_path, monkeypatch):
    made: list[str] = []
    real_create_engine = sqlite_event_log.db.create_engine

    def counting_create_engine(url, **kwargs):
        made.append(str(url))
        return real_create_engine(url, **kwargs)

    monkeypatch.setattr(sqlite_event_log.db, "create_engine", counting_create_engine)
    monkeypatch.setattr(sqlite_event_log, "KEPT_SHARDS", 3)
    home = _home(tmp_path, INSTANCE_CONFIG)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        first = _materialise(instance)
        # Dozens of events stored and read back: one engine for the index, one for the run.
        assert len(made) == 2, made
        runs = [first] + [_materialise(instance) for _ in range(3)]
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        assert len(storage._engines) == 3  # the index and two runs: the oldest were let go
        # An evicted shard is opened again when asked for, and reads the same.
        assert instance.all_logs(runs[0])
        assert len(storage._engines) == 3


def test_a_watcher_sees_events_another_instance_writes_on_its_open_connection(
    tmp_path, monkeypatch
):
    """The UI's live run log: new events sit in SQLite's write-ahead log (the run's .db file
    may not change while the writer's connection stays open); the watcher must see them."""
    home = _home(tmp_path, INSTANCE_CONFIG)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as writer, dg.DagsterInstance.get() as reader:
        run = writer.create_run_for_job(job_def=noop_job)
        writer.report_engine_event("first", run)  # the shard exists, its connection open
        seen: list[str] = []
        arrived = threading.Event()

        def callback(entry, _cursor):
            message = entry.dagster_event.message if entry.dagster_event else entry.user_message
            seen.append(message)
            if message == "third":
                arrived.set()

        reader.event_log_storage.watch(run.run_id, None, callback)
        try:
            time.sleep(0.5)  # the observer is running before anything new is written
            writer.report_engine_event("second", run)
            writer.report_engine_event("third", run)
            assert arrived.wait(20), f"the watcher saw only {seen}"
        finally:
            reader.event_log_storage.end_watch(run.run_id, callback)
    assert seen.index("second") < seen.index("third")


def test_the_local_environment_writes_it_and_replaces_only_an_untouched_old_default(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = prepare_local_environment()
    assert (home / "dagster.yaml").read_text() == INSTANCE_CONFIG

    (home / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limit: 1\n")
    prepare_local_environment()
    assert (home / "dagster.yaml").read_text() == INSTANCE_CONFIG

    edited = "concurrency:\n  pools:\n    default_limit: 2\n"
    (home / "dagster.yaml").write_text(edited)
    prepare_local_environment()
    assert (home / "dagster.yaml").read_text() == edited


def test_without_a_base_dir_or_dagster_home_it_says_what_is_missing(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(Exception, match="base_dir.*DAGSTER_HOME"):
        PooledSqliteEventLogStorage.from_config_value(None, {})
