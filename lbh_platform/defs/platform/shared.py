"""What every source shares: the lake and engine resources, the automation sensor, the alert
sensors (failed runs, failed blocking / ERROR / freshness checks), the heartbeat, the executor.

Each source's package (``defs/<source>/definitions.py``) returns its own ``dg.Definitions``;
``lbh_platform.definitions`` merges them with these. Every schedule and sensor takes its default
state from :mod:`lbh_platform.lib.automation_defaults`.
"""

import dagster as dg

from lbh_platform.lib.automation_defaults import FOLLOW_UP, sensor_status
from lbh_platform.lib.engine import build_engine_resources
from lbh_platform.lib.executor import build_executor
from lbh_platform.lib.monitoring.alerts import build_alert_sensors
from lbh_platform.lib.monitoring.heartbeat import build_heartbeat_sensor
from lbh_platform.lib.resources import LakeResource
from lbh_platform.settings import Settings

AUTOMATION_SENSOR = "lbh_automation"


def build_automation_sensor() -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=dg.AssetSelection.all(),
        default_status=sensor_status(FOLLOW_UP),
        description="Runs each later stage as soon as its upstream partition lands.",
    )


def build_shared_definitions(settings: Settings) -> dg.Definitions:
    """``lake``, ``engine`` and ``pyspark`` resources, the automation, alert and heartbeat
    sensors, and the executor every job runs its steps with."""
    return dg.Definitions(
        executor=build_executor(),
        sensors=[build_automation_sensor(), *build_alert_sensors(), build_heartbeat_sensor()],
        resources={
            **build_engine_resources(),
            "lake": LakeResource.from_settings(settings),
        },
    )
