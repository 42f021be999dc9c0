"""Tenure's change events applied to its state table: the generic rules of
:mod:`lbh_platform.common.event_state` bound to Tenure's schemas.

``TENURE_EVENTS`` is what a stage hands the engine (``Engine.apply_events(..., model=...)``);
the functions here are the single-machine rules for Tenure, for callers and tests that work
on Arrow tables directly.
"""

from collections.abc import Iterable

import pyarrow as pa

from lbh_platform.common import event_state
from lbh_platform.common.event_state import (
    OUTCOMES,
    STATE_EXTRA_FIELDS,
    TOMBSTONE_SCHEMA,
    ApplyResult,
    EventModel,
)
from lbh_platform.tenure.events import EVENT_SCHEMA, ORDER
from lbh_platform.tenure.schema import ID, TENURE_SCHEMA

__all__ = [
    "OUTCOMES",
    "STATE_EXTRA_FIELDS",
    "STATE_SCHEMA",
    "TENURE_EVENTS",
    "TOMBSTONE_SCHEMA",
    "ApplyResult",
    "apply_events",
    "as_state",
    "conform_events",
    "unknown_entity_events",
]

TENURE_EVENTS = EventModel(
    entity="tenure",
    id_column=ID,
    entity_schema=TENURE_SCHEMA,
    event_schema=EVENT_SCHEMA,
    order=tuple((name, direction) for name, direction, _ in ORDER),
)
STATE_SCHEMA = TENURE_EVENTS.state_schema


def as_state(table: pa.Table, what: str) -> pa.Table:
    return TENURE_EVENTS.as_state(table, what)


def conform_events(events: pa.Table) -> pa.Table:
    return TENURE_EVENTS.conform_events(events)


def apply_events(
    state: pa.Table, events: pa.Table, tombstones: Iterable[pa.Table] = ()
) -> ApplyResult:
    return event_state.apply_events(TENURE_EVENTS, state, events, tombstones)


def unknown_entity_events(
    base_ids: Iterable[str], events: pa.Table, tombstones: Iterable[pa.Table] = ()
) -> list[str]:
    return event_state.unknown_entity_events(TENURE_EVENTS, base_ids, events, tombstones)
