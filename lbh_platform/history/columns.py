"""The columns a history adds to a record's own, and day values as dates.

Stored in every segment: ``valid_from`` (the snapshot date whose batch brought the version),
``valid_to`` (the date a later batch replaced or deleted it, when known as the segment was
written; null otherwise) and ``is_deleted`` (the version ended by a deletion; on a row whose
``valid_to`` is null it marks a *tombstone*: the record was deleted on ``valid_from``).
``is_current`` is never stored: it would go stale in segments that are not rewritten daily;
the exact view computes it (:mod:`lbh_platform.history.exact`).
"""

from datetime import date, datetime

import pyarrow as pa

from lbh_platform.common.import_columns import SNAPSHOT_COLUMNS

VALID_FROM = "valid_from"
VALID_TO = "valid_to"
IS_DELETED = "is_deleted"
IS_CURRENT = "is_current"
SEGMENT = "segment"  # the partition column: which segment file a row sits in
STORED = (VALID_FROM, VALID_TO, IS_DELETED)
# Never part of a history: the snapshot's own day columns.
DROPPED = SNAPSHOT_COLUMNS
DATE = pa.date32()


def day(value: str) -> date:
    """``YYYYMMDD`` (a partition value) as a date."""
    return datetime.strptime(value, "%Y%m%d").date()


def value_of(moment: date) -> str:
    return moment.strftime("%Y%m%d")


def history_fields() -> list[pa.Field]:
    return [pa.field(VALID_FROM, DATE), pa.field(VALID_TO, DATE), pa.field(IS_DELETED, pa.bool_())]


def record_columns(names: list[str]) -> list[str]:
    """A history frame's record columns: everything but the history's and the segment."""
    return [n for n in names if n not in (*STORED, IS_CURRENT, SEGMENT)]
