"""``make dev``: the registered stand-ins plus ``dagster dev`` (webserver and daemon).

The stand-ins run with real time as "now", so schedules and sensors behave as in production,
and serve the same simulated world as ``make run`` (kept in ``DAGSTER_HOME``). Each is left out
when its real service is configured (e.g. ``TASCOMI_API_URL``, ``ALLOY_API_URL``,
``AWS_ENDPOINT_URL_DYNAMODB``; see :mod:`lbh_platform_devkit.stand_ins`). The Tascomi simulator
serves every resource, ingested or not, so a table added while this runs (``probe --write``,
then **Reload definitions**) is materialised without a restart. The event-streamed entities
(Tenure, Contact details) get a DynamoDB stand-in and the last four days of sink files in the
raw zone. Ctrl-C stops everything.
"""

import signal
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError
from lbh_platform_devkit.local import (
    LONDON,
    LocalStandIns,
    local_stand_ins,
    prepare_local_environment,
    requested_scale,
)

EVENT_STREAM_DAYS = 4


def start_simulators(home: Path, today: date | None = None) -> LocalStandIns:
    """The stand-ins ``make dev`` runs (those whose real service is not configured), recorded
    in ``home`` for ``probe``."""
    today = today or datetime.now(LONDON).date()
    days = [today - timedelta(days=n) for n in range(EVENT_STREAM_DAYS - 1, -1, -1)]
    return local_stand_ins(
        home,
        first_day=days[0],
        scale=requested_scale(),
        event_stream_days=days,
        keep_real_services=True,
    )


def main() -> int:
    home = prepare_local_environment()
    try:
        simulators = start_simulators(home)
    except ConfigurationError as exc:
        print(f"make dev: {exc}", file=sys.stderr)
        return 2
    host = registry.get("LBH_DEV_HOST")
    port = registry.get("LBH_DEV_PORT")
    with simulators:
        if simulators.running:
            print(f"stand-ins: {simulators.describe()}", flush=True)
        command = [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            "workspace.yaml",
            "-h",
            host,
            "-p",
            port,
        ]
        process = subprocess.Popen(command)
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.send_signal(signal.SIGINT)  # SIGTERM leaves dagster's process tree running
            return process.wait()


if __name__ == "__main__":
    raise SystemExit(main())
