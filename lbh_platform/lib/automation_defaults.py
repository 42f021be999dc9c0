"""Whether a schedule or sensor starts RUNNING: one rule for every source, from what the
schedule or sensor is for (its :class:`Role`) and where the platform runs (``LBH_DEPLOYMENT``).

``production`` (the compose services): everything the daily operation needs runs from the
first start, so a fresh deployment ingests and monitors without a click in the UI; only what
is opt-in by policy stays stopped. ``embedded`` (``make dev``, a demo on one machine): the runs
are the ones you start, so nothing fetches from the APIs or compacts files on its own, while
what only follows data that has landed (later stages, monitoring) runs. A state switched in
the UI is kept in the instance and wins over these defaults. docs/DEPLOYING.md lists every
schedule and sensor with its state in both; a test keeps that table true.
"""

from collections.abc import Mapping

import dagster as dg

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.lib.roles import (  # noqa: F401  (the roles, for the sources' wiring)
    DAILY_INGEST,
    EVENT_FILES,
    FOLLOW_UP,
    MONITORING,
    OPT_IN,
    Role,
)

DEPLOYMENT = "LBH_DEPLOYMENT"
EMBEDDED, PRODUCTION = "embedded", "production"


def deployment(environ: Mapping[str, str] | None = None) -> str:
    """``embedded`` or ``production`` (``LBH_DEPLOYMENT``); anything else is refused."""
    value = (registry.get(DEPLOYMENT, environ) or EMBEDDED).strip().lower()
    if value not in (EMBEDDED, PRODUCTION):
        raise ConfigurationError(
            f"{DEPLOYMENT} must be `{EMBEDDED}` or `{PRODUCTION}`, got {value!r}"
        )
    return value


def starts_running(role: Role, environ: Mapping[str, str] | None = None) -> bool:
    if role.production == role.embedded:  # the same everywhere: no setting to read
        return role.production
    return role.production if deployment(environ) == PRODUCTION else role.embedded


def sensor_status(role: Role, environ: Mapping[str, str] | None = None) -> dg.DefaultSensorStatus:
    running = starts_running(role, environ)
    return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED


def schedule_status(
    role: Role, environ: Mapping[str, str] | None = None
) -> dg.DefaultScheduleStatus:
    running = starts_running(role, environ)
    return dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
