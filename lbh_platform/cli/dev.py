"""``make dev``: the built-in simulators plus ``dagster dev`` (webserver and daemon).

The simulators run with real time as "now", so schedules and sensors behave as in
production; set ``TASCOMI_API_URL`` / ``ALLOY_API_URL`` to use real APIs instead. The
event-streamed entities (Tenure, Contact details) get a DynamoDB stand-in and the last four
days of sink files in the raw zone, unless ``AWS_ENDPOINT_URL_DYNAMODB`` is set. Ctrl-C stops
everything.
"""

import os
import signal
import subprocess
import sys
from contextlib import nullcontext
from datetime import date, timedelta

from lbh_platform.cli.local import Simulators, prepare_local_environment


def main() -> int:
    prepare_local_environment()
    from lbh_platform.alloy.datasets import load_datasets
    from lbh_platform.tascomi.tables import load_tables

    use_simulators = not (os.environ.get("TASCOMI_API_URL") or os.environ.get("ALLOY_API_URL"))
    simulators = (
        Simulators(
            load_tables(),
            load_datasets(),
            scale=float(os.environ.get("LBH_SIM_SCALE", "1")),
            epoch=date.today() - timedelta(days=60),
            event_stream_days=None
            if os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
            else [date.today() - timedelta(days=n) for n in range(3, -1, -1)],
        )
        if use_simulators
        else nullcontext()
    )
    host = os.environ.get("LBH_DEV_HOST", "127.0.0.1")
    port = os.environ.get("LBH_DEV_PORT", "3000")
    with simulators:
        if use_simulators:
            print(
                f"simulators: Tascomi {os.environ['TASCOMI_API_URL']}, "
                f"Alloy {os.environ['ALLOY_API_URL']}",
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
