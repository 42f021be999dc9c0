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
from dataclasses import dataclass

import dagster as dg

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError

DEPLOYMENT = "LBH_DEPLOYMENT"
EMBEDDED, PRODUCTION = "embedded", "production"


@dataclass(frozen=True)
class Role:
    """What a schedule or sensor is for, and whether it starts RUNNING in each deployment."""

    name: str
    production: bool
    embedded: bool
    why: str


DAILY_INGEST = Role(
    "daily ingestion",
    production=True,
    embedded=False,
    why="production: the day's partition must land before the 06:00 freshness deadline; "
    "embedded: a demo's fetches are the ones you start (switch it on in Automation)",
)
EVENT_FILES = Role(
    "event-file intake",
    production=True,
    embedded=False,
    why="production: each day's sink files are compacted as they arrive; embedded: `make dev` "
    "seeds days of files, compacted when you run them or switch the sensor on",
)
FOLLOW_UP = Role(
    "follow-up",
    production=True,
    embedded=True,
    why="acts only on data that has landed (later stages, stale snapshots rebuilt in order)",
)
MONITORING = Role(
    "monitoring",
    production=True,
    embedded=True,
    why="freshness, alerts and the heartbeat must never wait for a click",
)
OPT_IN = Role(
    "opt-in",
    production=False,
    embedded=False,
    why="by policy: the ADR limits reads of the service's DynamoDB table; switch it on where "
    "the weekly drift check is agreed",
)


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
