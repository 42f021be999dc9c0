"""What a schedule or sensor is for, and so whether it starts RUNNING in each deployment
(:mod:`lbh_platform.lib.automation_defaults` applies it). Plain data: a source spec names
the role of each of its schedules and sensors."""

from dataclasses import dataclass


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
HOUSEKEEPING = Role(
    "housekeeping",
    production=True,
    embedded=False,
    why="production: expired snapshots leave the zone and the catalogues weekly, by the "
    "retention policy; embedded: a demo keeps every day (run the job's dry run to see)",
)
OPT_IN = Role(
    "opt-in",
    production=False,
    embedded=False,
    why="by policy: the ADR limits reads of the service's DynamoDB table; switch it on where "
    "the weekly drift check is agreed",
)
