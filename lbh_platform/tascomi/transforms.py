"""Tascomi's raw rows: one row per record of the API's pages, as the original platform wrote
them. Parse and recast are shared (:mod:`lbh_platform.common.json_columns`,
:mod:`lbh_platform.common.recast`), and so are dedupe and upsert (:mod:`lbh_platform.common.rows`).

These are the single-machine engine's implementations. They hold no Dagster and no I/O, so
they are unit-tested directly and the asset factories stay thin.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Protocol

import pyarrow as pa

from lbh_platform.common.import_columns import IMPORT_METADATA_COLUMNS, import_columns
from lbh_platform.common.rows import LAST_UPDATED

IMPORT_COLUMNS: tuple[str, ...] = (
    "page_number",
    "import_api_url_requested",
    "import_api_status_code",
    "import_exception_thrown",
    *IMPORT_METADATA_COLUMNS,
)


# --------------------------------------------------------------------------- raw rows


class PageLike(Protocol):
    """One API page as the raw stage records it (the client's ``Page`` fits)."""

    number: int
    url: str
    status: int
    records: Sequence[Mapping[str, object]]


def raw_response_table(
    resource: str,
    pages: Iterable[PageLike],
    import_date: date,
    imported_at: datetime | None = None,
) -> tuple[pa.Table, int]:
    """One row per record: its JSON text plus the original's import metadata columns.

    Records last updated after ``import_date`` are left out (the next partition takes them;
    only a re-run of a past day sees any). Returns the table and how many were left out.
    """
    imported_at = imported_at or datetime.now(UTC)
    texts: list[str] = []
    page_numbers: list[int] = []
    urls: list[str] = []
    statuses: list[int] = []
    held_back = 0
    cutoff = import_date.isoformat()
    for page in pages:
        for record in page.records:
            updated = record.get(LAST_UPDATED)
            if isinstance(updated, str) and updated[:10] > cutoff:
                held_back += 1
                continue
            texts.append(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
            page_numbers.append(page.number)
            urls.append(page.url)
            statuses.append(page.status)
    n = len(texts)
    columns = {
        resource: pa.array(texts, pa.string()),
        "page_number": pa.array(page_numbers, pa.int32()),
        "import_api_url_requested": pa.array(urls, pa.string()),
        "import_api_status_code": pa.array(statuses, pa.int32()),
        "import_exception_thrown": pa.nulls(n, pa.string()),
        **import_columns(n, import_date, imported_at),
    }
    return pa.table(columns), held_back
