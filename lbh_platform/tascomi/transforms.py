"""Tascomi's raw rows: one row per record of the API's pages, as the original platform wrote
them. Parse and recast are shared (:mod:`lbh_platform.common.json_columns`,
:mod:`lbh_platform.common.recast`), and so are dedupe and upsert (:mod:`lbh_platform.common.rows`).

These are the single-machine engine's implementations. They hold no Dagster and no I/O, so
they are unit-tested directly and the asset factories stay thin.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import pyarrow as pa

from lbh_platform.common.import_columns import IMPORT_METADATA_COLUMNS, import_columns
from lbh_platform.tascomi.page_records import record_texts, record_updated

LONDON = ZoneInfo("Europe/London")
IMPORT_COLUMNS: tuple[str, ...] = (
    "page_number",
    "import_api_url_requested",
    "import_api_status_code",
    "import_exception_thrown",
    *IMPORT_METADATA_COLUMNS,
)


# --------------------------------------------------------------------------- raw rows


class PageLike(Protocol):
    """One API page as the raw stage records it (the client's ``Page`` fits; its records may
    be :class:`~lbh_platform.tascomi.page_records.RawRecords`, whose texts are stored as sent)."""

    number: int
    url: str
    status: int
    records: Sequence[Mapping[str, object]]


# A record updated more than this many days after the run's own date cannot be real (clocks
# and time zones differ by hours): it is taken with the import and counted, never held back.
FUTURE_MARGIN_DAYS = 1
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")


def updated_day(value: object) -> str | None:
    """``YYYY-MM-DD`` of a ``last_updated`` text, or None when it is missing or unreadable."""
    if not isinstance(value, str) or not _DAY.match(value):
        return None
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return None


@dataclass(frozen=True)
class UpdatedOutliers:
    """Records whose ``last_updated`` cannot place them on a day: taken with the import."""

    unreadable: int = 0  # present but not a date
    in_the_future: int = 0  # after the run's own date (+ the margin)
    examples: tuple[str, ...] = ()


def _horizon(imported_at: datetime) -> str:
    return (imported_at.astimezone(LONDON).date() + timedelta(days=FUTURE_MARGIN_DAYS)).isoformat()


def updated_outliers(pages: Iterable[PageLike], imported_at: datetime) -> UpdatedOutliers:
    """Count the records taken although their ``last_updated`` is unreadable or lies after
    the run (a held-back record would wait for a day that never comes)."""
    horizon = _horizon(imported_at)
    unreadable = future = 0
    examples: list[str] = []
    for page in pages:
        for value in record_updated(page.records):
            if value is None:
                continue
            day = updated_day(value)
            if day is None:
                unreadable += 1
            elif day > horizon:
                future += 1
            else:
                continue
            if len(examples) < 5:
                examples.append(f"page {page.number}: {str(value)[:40]!r}")
    return UpdatedOutliers(unreadable, future, tuple(examples))


def raw_response_table(
    resource: str,
    pages: Iterable[PageLike],
    import_date: date,
    imported_at: datetime | None = None,
) -> tuple[pa.Table, int]:
    """One row per record: its JSON text plus the original's import metadata columns.

    A fetched page's texts are stored as the API sent them (minus the dropped fields); dicts
    are encoded compactly (``json.dumps``, non-ASCII kept). The parse reads either alike.

    Records last updated after ``import_date`` are left out (the next partition takes them;
    only a re-run of a past day sees any). Returns the table and how many were left out. A
    ``last_updated`` that is unreadable or after the run itself (see :func:`updated_outliers`)
    never holds a record back: no later import would take it.
    """
    imported_at = imported_at or datetime.now(UTC)
    chunks: list[pa.Array] = []
    page_numbers: list[int] = []
    urls: list[str] = []
    statuses: list[int] = []
    held_back = 0
    cutoff = import_date.isoformat()
    horizon = _horizon(imported_at)
    for page in pages:
        texts = record_texts(page.records)
        keep = [
            not (isinstance(updated, str) and cutoff < updated[:10] <= horizon)
            or updated_day(updated) is None
            for updated in record_updated(page.records)
        ]
        kept = texts if all(keep) else texts.filter(pa.array(keep, pa.bool_()))
        held_back += len(texts) - len(kept)
        chunks.append(kept)
        page_numbers += [page.number] * len(kept)
        urls += [page.url] * len(kept)
        statuses += [page.status] * len(kept)
    n = len(page_numbers)
    columns = {
        resource: pa.chunked_array(chunks, pa.string()),
        "page_number": pa.array(page_numbers, pa.int32()),
        "import_api_url_requested": pa.array(urls, pa.string()),
        "import_api_status_code": pa.array(statuses, pa.int32()),
        "import_exception_thrown": pa.nulls(n, pa.string()),
        **import_columns(n, import_date, imported_at),
    }
    return pa.table(columns), held_back
