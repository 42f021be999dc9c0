"""The embedded default's event log: Dagster's SQLite storage, with its engines kept.

Dagster's ``SqliteEventLogStorage`` builds a new SQLAlchemy engine, opens a new connection
and disposes of both for every event it stores and every query it answers (``NullPool``).
In a daily run that is thousands of engines; measured (``make bench``, orchestration) it
was about half of the run's wall time. This subclass keeps one engine per shard (the
index, and each run's own database) with a one-connection pool, for the most recently
used shards, so an event costs an insert and a commit. The files, their schema and
layout are Dagster's own: a ``DAGSTER_HOME`` written by either class reads the same.

With connections kept open, SQLite's write-ahead log holds new events until a
checkpoint, so the run's ``.db`` file itself may not change; a watcher (the UI's live run
log) therefore also watches the ``-wal`` file. PostgreSQL (production) pools
connections already and does not need this.
"""

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster._check as check
import sqlalchemy as db
from dagster._config import Field, StringSource
from dagster._core.event_api import EventHandlerFn
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from lbh_platform import settings_registry as registry

__all__ = ["PooledSqliteEventLogStorage", "default_base_dir"]

# Shards whose engine (one open connection, plus SQLite's -wal and -shm files) is kept: a
# run touches two (the index and its own); the webserver reads many runs' in turn.
KEPT_SHARDS = 32


def default_base_dir() -> str:
    """Where Dagster keeps the event logs by default: ``$DAGSTER_HOME/history/runs``."""
    home = registry.get("DAGSTER_HOME")
    if not home:
        raise check.CheckError(
            "PooledSqliteEventLogStorage needs base_dir in its config or DAGSTER_HOME set"
        )
    return os.path.join(home, "history", "runs", "")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` that keeps an engine per shard instead of one per call.

    Configure in ``dagster.yaml`` (``base_dir`` defaults to Dagster's own location)::

        event_log_storage:
          module: lbh_platform.deploy.sqlite_event_log
          class: PooledSqliteEventLogStorage
    """

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data)
        # A forked child must not share its parent's SQLite connections; it opens its own.
        os.register_at_fork(after_in_child=self._forget_engines)

    @classmethod
    def config_type(cls) -> Mapping[str, Any]:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "PooledSqliteEventLogStorage":
        return cls(config_value.get("base_dir") or default_base_dir(), inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        """The shard's engine, made on first use; the least recently used one beyond
        ``KEPT_SHARDS`` is disposed of (a connection checked out of it closes when returned)."""
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = db.create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=4,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            db.event.listen(engine, "connect", _write_ahead_without_sync_per_commit)
            self._engines[shard] = engine
            evicted = []
            while len(self._engines) > KEPT_SHARDS:
                evicted.append(self._engines.popitem(last=False)[1])
        for old in evicted:
            old.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # As Dagster's own: one transaction at a time per storage, the database made (and
        # its schema stamped) the first time a shard is used.
        with self._db_lock:
            check.str_param(shard, "shard")
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        # Dagster asks this before many queries; its own version builds an engine each time.
        engine = self._engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))

    def watch(self, run_id: str, cursor: str | None, callback: EventHandlerFn) -> None:
        if not self._obs:
            from watchdog.observers import Observer

            self._obs = Observer()
            self._obs.start()
        watchdog = _WalAwareWatchdog(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (
            watchdog,
            self._obs.schedule(watchdog, self._base_dir, recursive=True),
        )

    def dispose(self) -> None:
        super().dispose()
        with self._engines_lock:
            engines = list(self._engines.values())
            self._engines.clear()
        for engine in engines:
            engine.dispose()

    def _forget_engines(self) -> None:
        for engine in self._engines.values():
            engine.dispose(close=False)
        self._engines.clear()
        self._engines_lock = threading.Lock()


def _write_ahead_without_sync_per_commit(dbapi_connection: Any, _record: Any) -> None:
    """``synchronous=NORMAL``: in WAL mode a commit is not synced to disk on its own (the
    log is synced at each checkpoint). A crashed process loses nothing; a power cut may
    lose the last events, never corrupts the database. Half the cost of storing an event."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class _WalAwareWatchdog(SqliteEventLogStorageWatchdog):
    """Dagster's run-log watcher, woken by the run's ``.db`` or its write-ahead log."""

    def __init__(self, storage: SqliteEventLogStorage, run_id: str, *args: Any) -> None:
        super().__init__(storage, run_id, *args)
        self._patterns = [self._log_path, self._log_path + "-wal"]

    def on_modified(self, event: Any) -> None:
        self._process_log()
