"""The local SQL catalogue's history forms: ``as_of`` and the exact versions, per history table.

A history table's view (``"<db>"."history_<t>"``, made like every table's) reads its segment
files as they are stored: a version stored open (``valid_to`` null) may have been replaced by
a later row of its id. Beside it:

- ``"<db>"."history_<t>_as_of"(day)``, a table macro: the records as of ``day`` (a DATE,
  ``'2024-03-05'`` or the partition form ``'20240305'``), as snapshot ``day`` holds them: rows
  valid on the day, the newest per id, unless it is a deletion;
- ``"<db>"."history_<t>_versions"``, a view: every version once, with its exact
  ``valid_to``, ``is_deleted`` and ``is_current``.

:func:`create` makes both when the catalogue registers a history table (one whose files carry
the ``lbh.history.id_column`` note); ``docs/HISTORY.md`` gives the Athena equivalents.
"""

from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from lbh_platform.catalog.base import PartitionRegistration
from lbh_platform.history.columns import IS_CURRENT, IS_DELETED, SEGMENT, VALID_FROM, VALID_TO
from lbh_platform.history.segments import ID_COLUMN

if TYPE_CHECKING:
    import duckdb

DATA_FILE = "part-0.parquet"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def id_column_of(r: PartitionRegistration) -> str | None:
    """The id column a history partition's file notes, or None (not a history)."""
    if r.partition_column != SEGMENT:
        return None
    try:
        metadata = pq.read_schema(f"{r.partition_location}/{DATA_FILE}").metadata or {}
    except OSError:
        return None
    value = metadata.get(ID_COLUMN.encode())
    return value.decode() if value else None


def as_of_sql(database: str, table: str, id_column: str) -> str:
    """``CREATE OR REPLACE MACRO ... AS TABLE`` for ``history_<t>_as_of(day)``."""
    source = f"{_quote(database)}.{_quote(table)}"
    day = (
        "(CASE WHEN length(CAST(day AS VARCHAR)) = 8 "
        "THEN CAST(strptime(CAST(day AS VARCHAR), '%Y%m%d') AS DATE) ELSE CAST(day AS DATE) END)"
    )
    return (
        f"CREATE OR REPLACE MACRO {_quote(database)}.{_quote(table + '_as_of')}(day) AS TABLE "
        f"SELECT * EXCLUDE ({VALID_FROM}, {VALID_TO}, {IS_DELETED}, {SEGMENT}, __newest) FROM ("
        f"SELECT *, row_number() OVER (PARTITION BY {_quote(id_column)} "
        f"ORDER BY {VALID_FROM} DESC, {VALID_TO} ASC NULLS LAST) AS __newest FROM {source} "
        f"WHERE {VALID_FROM} <= {day} AND ({VALID_TO} IS NULL OR {VALID_TO} > {day})"
        f") WHERE __newest = 1 AND NOT ({IS_DELETED} AND {VALID_TO} IS NULL)"
    )


def versions_sql(database: str, table: str, id_column: str) -> str:
    """``CREATE OR REPLACE VIEW`` for ``history_<t>_versions``: every version once, exact."""
    source = f"{_quote(database)}.{_quote(table)}"
    key = _quote(id_column)
    copies = (
        f"SELECT *, row_number() OVER (PARTITION BY {key}, {VALID_FROM} "
        f"ORDER BY {VALID_TO} ASC NULLS LAST) AS __copy FROM {source}"
    )
    ordered = (
        f"SELECT *, {IS_DELETED} AND {VALID_TO} IS NULL AS __tombstone, "
        f"lead({VALID_FROM}) OVER (PARTITION BY {key} ORDER BY {VALID_FROM}) AS __next_from, "
        f"lead({IS_DELETED} AND {VALID_TO} IS NULL) OVER (PARTITION BY {key} "
        f"ORDER BY {VALID_FROM}) AS __next_tombstone FROM ({copies}) WHERE __copy = 1"
    )
    return (
        f"CREATE OR REPLACE VIEW {_quote(database)}.{_quote(table + '_versions')} AS "
        f"SELECT * EXCLUDE ({VALID_TO}, {IS_DELETED}, {SEGMENT}, __copy, __tombstone, "
        f"__next_from, __next_tombstone), "
        f"coalesce({VALID_TO}, __next_from) AS {VALID_TO}, "
        f"CASE WHEN {VALID_TO} IS NOT NULL THEN {IS_DELETED} "
        f"ELSE coalesce(__next_tombstone, false) END AS {IS_DELETED}, "
        f"coalesce({VALID_TO}, __next_from) IS NULL AS {IS_CURRENT} "
        f"FROM ({ordered}) WHERE NOT __tombstone"
    )


def create(connection: "duckdb.DuckDBPyConnection", r: PartitionRegistration) -> bool:
    """Create the history forms beside ``r``'s view when ``r`` is a history; whether it was."""
    id_column = id_column_of(r)
    if id_column is None:
        return False
    connection.execute(as_of_sql(r.database, r.table, id_column))
    connection.execute(versions_sql(r.database, r.table, id_column))
    return True
