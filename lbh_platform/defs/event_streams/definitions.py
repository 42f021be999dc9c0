"""The event-stream builder: one configured entity -> its own ``dg.Definitions`` (assets,
checks, the file and stale-snapshot sensors, jobs, the re-sync schedule, its DynamoDB resource
``<name>_dynamo`` configured from the environment at load time, freshness and volume checks);
every entity of ``config/event_streams.yaml`` -> their merge. No code per entity."""

from collections.abc import Mapping, Sequence

import dagster as dg

from lbh_platform import settings_registry as registry
from lbh_platform.common.monitoring_config import MonitoringConfig
from lbh_platform.defs.event_streams.assets import asset_key, build_assets, resource_key
from lbh_platform.defs.event_streams.automation import build_automation
from lbh_platform.defs.event_streams.checks import build_checks
from lbh_platform.defs.event_streams.resources import dynamo_from_env
from lbh_platform.defs.monitoring import with_monitoring
from lbh_platform.defs.partitions import daily_partitions
from lbh_platform.event_streams.spec import EventStream, load_event_streams
from lbh_platform.settings import Settings


def build_event_stream_definitions(
    stream: EventStream,
    environ: Mapping[str, str] | None = None,
    monitoring: MonitoringConfig | None = None,
) -> dg.Definitions:
    """Everything one entity brings (with the snapshot's daily freshness check and the events'
    volume check); the shared ``lake`` and ``engine`` resources come from
    :mod:`lbh_platform.defs.shared`."""
    jobs, sensors, schedules = build_automation(stream)
    env = registry.environ(environ)
    return with_monitoring(
        stream.name,
        dg.Definitions(
            assets=build_assets(stream),
            asset_checks=build_checks(stream),
            sensors=sensors,
            jobs=jobs,
            schedules=schedules,
            resources={resource_key(stream): dynamo_from_env(stream, env)},
        ),
        deadlines={asset_key(stream, "snapshot"): "daily"},
        volumes=[(asset_key(stream, "events"), daily_partitions)],
        monitoring=monitoring,
    )


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


def load_event_streams_definitions(settings: Settings) -> dg.Definitions:
    """The entities read their settings (DynamoDB tables, event files) from the environment."""
    del settings
    return build_event_streams_definitions()
