"""What every source shares: the lake and engine resources, the automation sensor and the
alert sensors (failed runs, failed blocking / ERROR / freshness checks), the executor.

Each source's package (``defs/<source>/definitions.py``) returns its own ``dg.Definitions``;
``lbh_platform.definitions`` merges them with these.
"""

import dagster as dg

from lbh_platform.defs.engine import build_engine_resources
from lbh_platform.defs.executor import build_executor
from lbh_platform.defs.monitoring.alerts import build_alert_sensors
from lbh_platform.defs.resources import LakeResource
from lbh_platform.settings import Settings

automation_sensor = dg.AutomationConditionSensorDefinition(
    "lbh_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs each later stage as soon as its upstream partition lands.",
)


def build_shared_definitions(settings: Settings) -> dg.Definitions:
    """``lake``, ``engine`` and ``pyspark`` resources, the automation and alert sensors, and
    the executor every job runs its steps with."""
    return dg.Definitions(
        executor=build_executor(),
        sensors=[automation_sensor, *build_alert_sensors()],
        resources={
            **build_engine_resources(),
            "lake": LakeResource.from_settings(settings),
        },
    )
