"""The platform's own definitions (no source): lake and engine resources, the automation,
alert and heartbeat sensors, the executor, the retention job and its weekly schedule, and the
erasure job."""

import dagster as dg

from lbh_platform.defs.platform.erasure import build_erasure
from lbh_platform.defs.platform.retention import build_retention
from lbh_platform.defs.platform.shared import build_shared_definitions
from lbh_platform.settings import load_settings


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        build_shared_definitions(load_settings()),
        build_retention(),
        build_erasure(),
    )
