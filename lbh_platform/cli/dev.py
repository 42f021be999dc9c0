"""``make dev``: the built-in simulators plus ``dagster dev`` (webserver and daemon).

The simulators run with real time as "now", so schedules and sensors behave as in
production, and serve the same simulated world as ``make run`` (kept in ``DAGSTER_HOME``);
set ``TASCOMI_API_URL`` / ``ALLOY_API_URL`` to use real APIs instead. They serve every Tascomi
resource, ingested or not, so a table added while this runs (``probe --write``, then **Reload
definitions**) is materialised without a restart. The event-streamed entities (Tenure, Contact
details) get a DynamoDB stand-in and the last four days of sink files in the raw zone, unless
``AWS_ENDPOINT_URL_DYNAMODB`` is set. Ctrl-C stops everything.
"""

import signal
import subprocess
import sys
from contextlib import nullcontext
from datetime import date, datetime, timedelta
from pathlib import Path

from lbh_platform import settings_registry as registry
from lbh_platform.cli.local import (
    LONDON,
    Simulators,
    local_simulators,
    prepare_local_environment,
    requested_scale,
)
from lbh_platform.common.errors import ConfigurationError

EVENT_STREAM_DAYS = 4


def start_simulators(home: Path, today: date | None = None) -> Simulators:
    """The simulators ``make dev`` runs, recorded in ``home`` for ``probe``."""
    today = today or datetime.now(LONDON).date()
    days = [today - timedelta(days=n) for n in range(EVENT_STREAM_DAYS - 1, -1, -1)]
    return local_simulators(
        home,
        first_day=days[0],
        scale=requested_scale(),
        event_stream_days=None if registry.get("AWS_ENDPOINT_URL_DYNAMODB") else days,
    )


def main() -> int:
    home = prepare_local_environment()
    use_simulators = not (registry.get("TASCOMI_API_URL") or registry.get("ALLOY_API_URL"))
    try:
        simulators = start_simulators(home) if use_simulators else nullcontext()
    except ConfigurationError as exc:
        print(f"make dev: {exc}", file=sys.stderr)
        return 2
    host = registry.get("LBH_DEV_HOST")
    port = registry.get("LBH_DEV_PORT")
    with simulators:
        if use_simulators:
            print(
                f"simulators: Tascomi {registry.get('TASCOMI_API_URL')}, "
                f"Alloy {registry.get('ALLOY_API_URL')}",
                flush=True,
            )
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
