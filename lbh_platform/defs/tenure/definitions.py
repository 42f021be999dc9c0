"""Tenure's definitions: the extract, events and snapshot assets, checks, the event-file
sensor, jobs, schedules and the ``tenure_dynamo`` resource (configured from the environment
at load time)."""

import os
from collections.abc import Mapping

import dagster as dg

from lbh_platform.common.monitoring_config import MonitoringConfig
from lbh_platform.defs.monitoring import with_monitoring
from lbh_platform.defs.partitions import daily_partitions
from lbh_platform.defs.tenure.assets import asset_key, build_tenure_assets
from lbh_platform.defs.tenure.automation import build_tenure_automation
from lbh_platform.defs.tenure.checks import build_tenure_checks
from lbh_platform.defs.tenure.resources import tenure_dynamo_from_env
from lbh_platform.settings import Settings


def build_tenure_definitions(
    environ: Mapping[str, str] | None = None, monitoring: MonitoringConfig | None = None
) -> dg.Definitions:
    """Everything Tenure brings (with the snapshot's daily freshness check and the events'
    volume check); the shared ``lake`` and ``engine`` resources come from
    :mod:`lbh_platform.defs.shared`."""
    jobs, sensors, schedules = build_tenure_automation()
    env = os.environ if environ is None else environ
    return with_monitoring(
        "tenure",
        dg.Definitions(
            assets=build_tenure_assets(),
            asset_checks=build_tenure_checks(),
            sensors=sensors,
            jobs=jobs,
            schedules=schedules,
            resources={"tenure_dynamo": tenure_dynamo_from_env(env)},
        ),
        deadlines={asset_key("snapshot"): "daily"},
        volumes=[(asset_key("events"), daily_partitions)],
        monitoring=monitoring,
    )


def load_tenure_definitions(settings: Settings) -> dg.Definitions:
    """Tenure reads its settings (DynamoDB table, event files) from the environment."""
    del settings
    return build_tenure_definitions()
