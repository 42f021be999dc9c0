"""Erased records left out of a Tascomi import (docs/PERSONAL_DATA.md, "The next daily run").

The API still serves a record after its erasure from the lake; the import leaves it out of
the raw partition (so parsed, increment and snapshot never see it) until Tascomi changes it
again: a ``last_updated`` (London time) after the erasure is the source's new data.
"""

from zoneinfo import ZoneInfo

import pyarrow as pa

from lbh_platform.erasure.audit import AuditLog
from lbh_platform.erasure.locate import Removed
from lbh_platform.erasure.recorded import drop_all_erased
from lbh_platform.storage.lake import Lake

SOURCE = "tascomi"  # as the erase command records it
LONDON = ZoneInfo("Europe/London")


def drop_erased_records(lake: Lake, table: str, raw: pa.Table) -> tuple[pa.Table, Removed]:
    """``raw`` (an api_response partition's rows: each record's JSON in the column named
    after the table) without records erased from ``table`` and not changed since."""
    return drop_all_erased(
        AuditLog.of(lake),
        SOURCE,
        table,
        raw,
        text_column=table,
        changed_at="last_updated",
        naive_zone=LONDON,
    )
