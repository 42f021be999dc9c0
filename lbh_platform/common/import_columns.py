"""The original platform's import metadata columns, added by every raw stage."""

from datetime import UTC, date, datetime

import pyarrow as pa

# What :func:`import_columns` adds, in order.
IMPORT_METADATA_COLUMNS: tuple[str, ...] = (
    "import_datetime",
    "import_timestamp",
    "import_year",
    "import_month",
    "import_day",
    "import_date",
)
SNAPSHOT_COLUMNS: tuple[str, ...] = (
    "snapshot_year",
    "snapshot_month",
    "snapshot_day",
    "snapshot_date",
)


def yyyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")


def import_columns(rows: int, import_date: date, imported_at: datetime) -> dict[str, pa.Array]:
    """``import_datetime``, ``import_timestamp`` and the string ``import_year/month/day/date``."""
    stamp = imported_at.astimezone(UTC)
    return {
        "import_datetime": pa.array([stamp] * rows, pa.timestamp("us", tz="UTC")),
        "import_timestamp": pa.array([str(int(stamp.timestamp()))] * rows, pa.string()),
        "import_year": pa.array([f"{import_date.year:04d}"] * rows, pa.string()),
        "import_month": pa.array([f"{import_date.month:02d}"] * rows, pa.string()),
        "import_day": pa.array([f"{import_date.day:02d}"] * rows, pa.string()),
        "import_date": pa.array([yyyymmdd(import_date)] * rows, pa.string()),
    }


def snapshot_columns(rows: int, day: date) -> dict[str, pa.Array]:
    """``snapshot_year/month/day/date`` strings for a snapshot of ``day``."""
    values = {
        "snapshot_year": f"{day.year:04d}",
        "snapshot_month": f"{day.month:02d}",
        "snapshot_day": f"{day.day:02d}",
        "snapshot_date": yyyymmdd(day),
    }
    return {name: pa.array([v] * rows, pa.string()) for name, v in values.items()}
