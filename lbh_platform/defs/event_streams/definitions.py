"""The event-streamed entities' definitions: each entry of ``config/event_streams.yaml`` is a
source spec, built; its DynamoDB resource ``<name>_dynamo`` is configured from the environment
at load time."""

from collections.abc import Mapping, Sequence

import dagster as dg

from lbh_platform.common.monitoring_config import MonitoringConfig
from lbh_platform.defs.event_streams.resources import dynamo_from_env
from lbh_platform.defs.event_streams.spec import event_stream_source, resource_key
from lbh_platform.event_streams.spec import EventStream, load_event_streams
from lbh_platform.lib.build import build_source
from lbh_platform.lib.spec import SourceSpec


def build_event_stream_definitions(
    stream: EventStream,
    environ: Mapping[str, str] | None = None,
    monitoring: MonitoringConfig | None = None,
) -> dg.Definitions:
    resources = {resource_key(stream): lambda: dynamo_from_env(stream, environ)}
    return build_source(event_stream_source(stream, resources), monitoring)


def build_event_streams_definitions(
    streams: Sequence[EventStream] | None = None,
    environ: Mapping[str, str] | None = None,
    monitoring: MonitoringConfig | None = None,
) -> dg.Definitions:
    """Every configured entity (the shipped config by default)."""
    streams = load_event_streams() if streams is None else streams
    return dg.Definitions.merge(
        *(build_event_stream_definitions(s, environ, monitoring) for s in streams)
    )


def source_specs() -> list[SourceSpec]:
    """The specs as configured (resources unmade): for tools that walk every source's assets."""
    return [event_stream_source(s, {}) for s in load_event_streams()]


@dg.definitions
def defs() -> dg.Definitions:
    return build_event_streams_definitions()
