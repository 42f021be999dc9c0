"""``make dev``: the built-in simulator plus ``dagster dev`` (webserver and daemon).

The simulator runs on the default port with real time as "now", so schedules and sensors
behave as in production. Stop everything with Ctrl-C.
"""

import os
import signal
import subprocess
import sys
from datetime import date, timedelta


def main() -> int:
    from lbh_platform.cli.local import prepare_local_environment, simulator_port
    from lbh_platform.settings import load_settings
    from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
    from lbh_platform.tascomi.simulator import TascomiSimulator
    from lbh_platform.tascomi.tables import load_tables

    prepare_local_environment()
    settings = load_settings()
    simulator = None
    if settings.uses_simulator:
        simulator = TascomiSimulator(
            load_tables(),
            ColumnTypeCatalogue.load(),
            public_key=settings.tascomi_public_key,
            private_key=settings.tascomi_private_key,
            scale=float(os.environ.get("LBH_SIM_SCALE", "1")),
            epoch=date.today() - timedelta(days=60),
            port=simulator_port(),
        )
        print(f"Tascomi simulator at {simulator.start()}", flush=True)
    host = os.environ.get("LBH_DEV_HOST", "127.0.0.1")
    port = os.environ.get("LBH_DEV_PORT", "3000")
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
    finally:
        if simulator is not None:
            simulator.stop()


if __name__ == "__main__":
    raise SystemExit(main())
