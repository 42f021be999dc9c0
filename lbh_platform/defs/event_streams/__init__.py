"""Event-stream wiring: one builder over the configured entities, each giving its own assets,
checks, sensors, jobs and resource (:func:`build_event_stream_definitions`)."""

from lbh_platform.defs.event_streams.definitions import (
    build_event_stream_definitions,
    build_event_streams_definitions,
    load_event_streams_definitions,
)
from lbh_platform.defs.event_streams.resources import DynamoTableResource

__all__ = [
    "DynamoTableResource",
    "build_event_stream_definitions",
    "build_event_streams_definitions",
    "load_event_streams_definitions",
]
