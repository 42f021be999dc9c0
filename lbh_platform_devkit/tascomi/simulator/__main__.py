"""Run the simulator standalone, e.g. to point a client or a demo at it by hand.

``python -m lbh_platform_devkit.tascomi.simulator --port 8765 --scale 1`` prints the URL and keys
and serves until Ctrl-C. While it runs it is recorded in ``DAGSTER_HOME`` (default
``./.dagster_home``), so ``probe`` without ``TASCOMI_API_URL`` uses it, as it uses the one of
``make dev``.
"""

import argparse
import signal
import time
from datetime import date

from lbh_platform.cli.simulator_state import announce, local_home, withdraw
from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
from lbh_platform.tascomi.tables import load_tables
from lbh_platform_devkit.tascomi.simulator.records import DEFAULT_EPOCH
from lbh_platform_devkit.tascomi.simulator.server import TascomiSimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m lbh_platform_devkit.tascomi.simulator",
        description="Serve a simulated Tascomi API on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument(
        "--epoch",
        type=date.fromisoformat,
        default=DEFAULT_EPOCH,
        help="first day of simulated activity (YYYY-MM-DD)",
    )
    parser.add_argument("--bad-value-rate", type=float, default=0.0)
    parser.add_argument("--public-key", default="sim-public-key")
    parser.add_argument("--private-key", default="sim-private-key")
    args = parser.parse_args(argv)

    simulator = TascomiSimulator(
        load_tables(),
        ColumnTypeCatalogue.load(),
        public_key=args.public_key,
        private_key=args.private_key,
        scale=args.scale,
        seed=args.seed,
        epoch=args.epoch,
        page_size=args.page_size,
        host=args.host,
        port=args.port,
        bad_value_rate=args.bad_value_rate,
    )
    # Treat SIGTERM like Ctrl-C so a supervisor (or `kill`) also stops the server cleanly.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    url = simulator.start()
    # Recorded for probe, which signs with the built-in keys: only when it uses them.
    builtin = (args.public_key, args.private_key) == ("sim-public-key", "sim-private-key")
    record = announce(local_home(), url) if builtin else None
    print(f"Tascomi simulator serving at {url}")
    print(f"  public key:  {args.public_key}")
    print(f"  private key: {args.private_key}")
    print(
        f"  scale {args.scale}, seed {args.seed}, epoch {args.epoch}, "
        f"page size {args.page_size}; now = real time. Ctrl-C to stop.",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping")
    finally:
        if record is not None:
            withdraw(record)
        simulator.stop()


if __name__ == "__main__":
    main()
