"""Records as they enter: each must carry a usable id, and a record served twice in one import
(edited while the client paged, so it moved to a later page) is kept once, at its newest
version.

Pure, no I/O: the ingest stage runs this on the fetched pages before anything is written, so
a record without an id fails the partition with the table, partition and page named, and a raw
partition never holds two versions of one record (which the blocking uniqueness check on
``parsed`` would otherwise stop, although the newer version is plainly the right one).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lbh_platform.common.errors import DataError
from lbh_platform.common.rows import LAST_UPDATED
from lbh_platform.tascomi.transforms import PageLike


@dataclass(frozen=True)
class CheckedPage:
    """A page as the raw stage records it, after the checks."""

    number: int
    url: str
    status: int
    records: Sequence[Mapping[str, object]]


@dataclass(frozen=True)
class CheckedPages:
    pages: list[CheckedPage]
    superseded: int  # older versions dropped because a newer one came on another page
    examples: list[str]  # a few of them, for the log


def record_key(value: object) -> str | None:
    """The id as text (``17`` and ``"17"`` are one record); None when it is unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _updated(record: Mapping[str, object]) -> str:
    value = record.get(LAST_UPDATED)
    return value if isinstance(value, str) else ""  # missing or null counts as oldest


def check_pages(
    pages: Sequence[PageLike], table: str, id_column: str, partition: str
) -> CheckedPages:
    """Refuse a record without a usable ``id_column``; keep only the newest version of an id
    seen more than once (equal ``last_updated`` are all kept, for the checks to judge)."""
    newest: dict[str, str] = {}
    for page in pages:
        for position, record in enumerate(page.records, start=1):
            value = record.get(id_column)
            key = record_key(value)
            if key is None:
                problem = (
                    f"has no {id_column!r}"
                    if value is None
                    else f"has an unusable {id_column!r} {value!r} (a string or integer is needed)"
                )
                raise DataError(
                    f"tascomi {table} partition {partition} page {page.number} ({page.url}): "
                    f"record {position} {problem}; nothing was published. Fields: "
                    f"{sorted(record)[:12]}"
                )
            updated = _updated(record)
            if updated > newest.get(key, ""):
                newest[key] = updated
            else:
                newest.setdefault(key, updated)
    checked: list[CheckedPage] = []
    superseded = 0
    examples: list[str] = []
    for page in pages:
        kept = []
        for record in page.records:
            key = record_key(record.get(id_column))
            assert key is not None
            updated = _updated(record)
            if updated < newest[key]:
                superseded += 1
                if len(examples) < 5:
                    examples.append(
                        f"{id_column} {key} on page {page.number} ({updated or 'no last_updated'}"
                        f" < {newest[key]})"
                    )
                continue
            kept.append(record)
        checked.append(CheckedPage(page.number, page.url, page.status, kept))
    return CheckedPages(checked, superseded, examples)
