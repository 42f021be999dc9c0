"""A local SQL catalogue for analysts: a DuckDB file with the Glue database and table names.

Each database is a DuckDB schema and each table a view over its Hive-partitioned parquet
files, so the playbook's Athena queries run unchanged on the embedded default, e.g.::

    select * from "dataplatform-stg-tascomi-refined-zone"."applications"
    where snapshot_date = (select max(snapshot_date)
                           from "dataplatform-stg-tascomi-refined-zone"."applications")

The view globs ``<table>/<column>=*/part-*.parquet``: every published partition, never a
temporary file, new partitions and new columns without re-registration (``union_by_name``),
and the partition column as VARCHAR like the Glue partition key.

Local zones only: views over ``s3://`` would need DuckDB's httpfs extension and credentials
in the catalogue file, so S3 partitions are skipped here (Glue/Athena serve S3).

A removed partition (retention) leaves the view by itself (its files are gone); the view is
dropped when the table's last partition goes, since a glob matching nothing fails every query.

A table registered with its personal-data declaration also gets ``<table>_masked`` beside it
(:mod:`lbh_platform.erasure.masked`; ``LBH_MASKED_VIEWS``: ``drop``, the default, or
``hash``), made again with the view; with an empty declaration any masked view is dropped.

DuckDB allows one writing process per file. An analyst's open session (or a parallel step)
holding the file is waited for briefly; if it stays locked the pipeline carries on with a
warning and the next write to that table registers it. The local catalogue never fails a run.
"""

import logging
import os
import threading
import time
from pathlib import Path

from lbh_platform.catalog.base import PartitionRegistration, PartitionRemoval

log = logging.getLogger(__name__)
DEFAULT_FILE_NAME = "catalog.duckdb"
MASKED_SUFFIX = "_masked"  # as lbh_platform.erasure.masked names them


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(r: PartitionRegistration) -> str:
    """``CREATE OR REPLACE VIEW`` over every published partition of the table."""
    pattern = f"{r.location.rstrip('/')}/{r.partition_column}=*/part-*.parquet"
    column = quote_literal(r.partition_column)
    return (
        f"CREATE OR REPLACE VIEW {quote_identifier(r.database)}.{quote_identifier(r.table)} AS "
        f"SELECT * FROM read_parquet({quote_literal(pattern)}, hive_partitioning = true, "
        f"union_by_name = true, hive_types = {{{column}: 'VARCHAR'}})"
    )


def is_local(location: str) -> bool:
    return "://" not in location or location.startswith("file://")


def _is_contention(exc: Exception) -> bool:
    """A lock held by another process or a concurrent catalogue change in this one."""
    import duckdb

    if isinstance(exc, duckdb.TransactionException):
        return True
    message = str(exc).lower()
    return isinstance(exc, duckdb.IOException | duckdb.ConnectionException) and (
        "lock" in message or "different configuration" in message
    )


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


# (file, database, table) -> (view SQL, data schema, file identity) registered by this process.
# A view covers every partition of its table, so it is (re)created only the first time a
# process sees the table, when the data's schema changes, or when the file was replaced;
# opening the file costs tens of milliseconds, too much for every write.
_registered: dict[tuple[str, str, str], tuple[str, str, tuple[int, int] | None]] = {}
_memo_lock = threading.Lock()


class DuckDBCatalog:
    """Registers tables as views in the DuckDB file at ``path``.

    Connections are opened per registration and closed at once, so analysts can open the file
    between writes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_timeout: float = 3.0,
        masked_mode: str | None = None,
    ):
        from lbh_platform.erasure.masked import masked_mode as configured_mode
        from lbh_platform.erasure.settings import MASKED_VIEWS

        self.path = str(path)
        self.lock_timeout = lock_timeout
        self.masked_mode = configured_mode({MASKED_VIEWS: masked_mode} if masked_mode else None)
        self._skipped_remote = False

    def __repr__(self) -> str:
        return f"DuckDBCatalog({self.path})"

    def register(self, registration: PartitionRegistration) -> None:
        r = registration
        if not is_local(r.location):
            if not self._skipped_remote:
                log.info(
                    "local SQL catalogue %s covers local zones only; %s skipped",
                    self.path,
                    r.location,
                )
                self._skipped_remote = True
            return
        statements = [view_sql(r), self._masked_sql(r), *self._history_sql(r)]
        sql = "\n".join(statements)
        key = (os.path.abspath(self.path), r.database, r.table)
        wanted = (sql, r.schema.to_string(show_schema_metadata=False))
        with _memo_lock:
            known = _registered.get(key)
            if known is not None and known[:2] == wanted and known[2] == _file_identity(key[0]):
                return
            if self._create_view(r, [s for s in statements if s]):
                _registered[key] = (*wanted, _file_identity(key[0]))

    def _history_sql(self, r: PartitionRegistration) -> list[str]:
        """A history's ``<table>_as_of(day)`` macro and ``<table>_versions`` view (none for
        another table): made with its view, so every history is queryable "as of" a day."""
        from lbh_platform.catalog import history_sql

        id_column = history_sql.id_column_of(r)
        if id_column is None:
            return []
        return [
            history_sql.as_of_sql(r.database, r.table, id_column),
            history_sql.versions_sql(r.database, r.table, id_column),
        ]

    def _masked_sql(self, r: PartitionRegistration) -> str:
        """The masked view's statement (empty: the caller gave no declaration)."""
        from lbh_platform.erasure.masked import masked_name, masked_view_sql

        if r.personal is None:
            return ""
        if not r.personal:
            name = f"{quote_identifier(r.database)}.{quote_identifier(masked_name(r.table))}"
            return f"DROP VIEW IF EXISTS {name}"
        try:
            return masked_view_sql(
                r.database,
                r.table,
                r.schema,
                r.personal,
                self.masked_mode,  # type: ignore[arg-type]
                passthrough=[r.partition_column],
            )
        except ValueError as exc:  # every column personal, or a path the data cannot hold
            log.warning(
                "local SQL catalogue: no masked view of %s.%s: %s", r.database, r.table, exc
            )
            return ""

    def _create_view(self, r: PartitionRegistration, statements: list[str]) -> bool:
        schema = f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(r.database)}"
        return self._execute(r.database, r.table, [schema, *statements])

    def unregister(self, removal: PartitionRemoval) -> None:
        """Drop the table's view when no other partition of it remains (called before the
        partition's files are deleted); otherwise the view needs nothing."""
        r = removal
        if not is_local(r.location):
            return
        root = Path(r.location.removeprefix("file://"))
        others = [
            found
            for found in root.glob(f"{r.partition_column}=*/part-*.parquet")
            if found.parent.name != f"{r.partition_column}={r.partition_value}"
        ]
        if others or not Path(self.path).exists():
            return
        key = (os.path.abspath(self.path), r.database, r.table)
        with _memo_lock:
            view = f"{quote_identifier(r.database)}.{quote_identifier(r.table)}"
            masked = f"{quote_identifier(r.database)}.{quote_identifier(r.table + MASKED_SUFFIX)}"
            drops = [f"DROP VIEW IF EXISTS {masked}", f"DROP VIEW IF EXISTS {view}"]
            if self._execute(r.database, r.table, drops):
                _registered.pop(key, None)

    def _execute(self, database: str, table: str, statements: list[str]) -> bool:
        """Run ``statements`` on the file, waiting briefly for a lock; False (with a warning)
        when it stays locked or fails: the local catalogue never fails a run."""
        import duckdb

        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                with duckdb.connect(self.path) as connection:
                    for statement in statements:
                        connection.execute(statement)
                return True
            except duckdb.Error as exc:
                if _is_contention(exc) and time.monotonic() + delay < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                reason = "is locked by another session" if _is_contention(exc) else "failed"
                log.warning(
                    "local SQL catalogue %s %s; %s.%s not refreshed (the next write to it "
                    "retries): %s",
                    self.path,
                    reason,
                    database,
                    table,
                    str(exc).splitlines()[0],
                )
                return False


def default_duckdb_path(raw_zone: str) -> str:
    """Next to the zones: ``<raw zone>/../catalog.duckdb`` (``./data/catalog.duckdb`` for the
    embedded default), so every set of zones, e.g. each test's, has its own catalogue."""
    return str(Path(raw_zone).resolve().parent / DEFAULT_FILE_NAME)
