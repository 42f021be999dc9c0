"""Erased records left out of an event-streamed entity's ingest (docs/PERSONAL_DATA.md, "The
next daily run").

An event is the source changing the entity, so an event after the erasure comes in as new
data; one from before it (a late file, a redelivery) is left out, as is an erased entity (or
an erased person's element of a list) in a new DynamoDB scan, which carries no change time.
"""

import pyarrow as pa

from lbh_platform.erasure.audit import AuditLog
from lbh_platform.erasure.locate import Removed
from lbh_platform.erasure.recorded import drop_all_erased
from lbh_platform.event_streams.spec import EventStream
from lbh_platform.storage.lake import Lake

SOURCE = "event_streams"  # as the erase command records it
EVENT_TIME = "event_time"


def drop_erased_events(
    lake: Lake, stream: EventStream, events: pa.Table
) -> tuple[pa.Table, Removed]:
    """A day's compacted events without those of erased keys dated before the erasure."""
    return drop_all_erased(AuditLog.of(lake), SOURCE, stream.name, events, changed_at=EVENT_TIME)


def drop_erased_items(lake: Lake, stream: EventStream, rows: pa.Table) -> tuple[pa.Table, Removed]:
    """An initial state's rows without erased entities (or erased list elements)."""
    return drop_all_erased(AuditLog.of(lake), SOURCE, stream.name, rows)
