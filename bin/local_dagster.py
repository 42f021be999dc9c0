"""``bin/dagster``: Dagster's command line against the local instance of this checkout.

- ``DAGSTER_HOME`` and the zones default to those of ``make run`` / ``make dev`` (under the
  checkout, whatever the current folder), so runs show in the UI and read the same data;
  without it Dagster's CLI would use a temporary instance that nobody sees.
- Commands that execute something (``asset materialize``, ``job execute``) need the APIs: with
  ``TASCOMI_API_URL`` / ``ALLOY_API_URL`` unset they use the simulators ``make dev`` is running
  for this ``DAGSTER_HOME``, or start the Tascomi and Alloy simulators (the same simulated
  world) for the command's duration. Event-streamed entities need ``make dev``'s DynamoDB
  stand-in, or ``AWS_ENDPOINT_URL_DYNAMODB``.
"""

import signal
import subprocess
import sys
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXECUTING = {("asset", "materialize"), ("job", "execute")}
SIMULATOR_KEYS = ("TASCOMI_PUBLIC_KEY", "TASCOMI_PRIVATE_KEY", "ALLOY_API_KEY")


def _say(text: str) -> None:
    print(f"bin/dagster: {text}", file=sys.stderr, flush=True)


def _simulators(home: Path):
    """A context in which the APIs are reachable: configured ones, ``make dev``'s simulators,
    or simulators started here."""
    from lbh_platform import settings_registry as registry
    from lbh_platform.alloy.settings import SIMULATOR_KEY as ALLOY_SIMULATOR_KEY
    from lbh_platform.cli.simulator_state import find_running
    from lbh_platform.tascomi.settings import SIMULATOR_PRIVATE_KEY, SIMULATOR_PUBLIC_KEY
    from lbh_platform_devkit.local import LONDON, local_stand_ins, requested_scale

    if registry.get("TASCOMI_API_URL") or registry.get("ALLOY_API_URL"):
        return nullcontext()
    running = find_running(home)
    if running is not None and running.alloy_url:
        _say(f"using the simulators of process {running.pid} ({running.tascomi_url})")
        values = (SIMULATOR_PUBLIC_KEY, SIMULATOR_PRIVATE_KEY, ALLOY_SIMULATOR_KEY)
        for name, value in zip(SIMULATOR_KEYS, values, strict=True):
            registry.put(name, value)
        registry.put("TASCOMI_API_URL", running.tascomi_url)
        registry.put("ALLOY_API_URL", running.alloy_url)
        return nullcontext()
    simulators = local_stand_ins(
        home,
        first_day=datetime.now(LONDON).date(),
        scale=requested_scale(),
        event_stream_days=None,
    )
    _say(f"started the simulators for this command ({registry.get('TASCOMI_API_URL')})")
    return simulators


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))  # the checkout's package, even if another is installed
    from lbh_platform import settings_registry as registry
    from lbh_platform_devkit.local import prepare_local_environment

    registry.set_default("LBH_RAW_ZONE", str(ROOT / "data" / "raw-zone"))
    registry.set_default("LBH_REFINED_ZONE", str(ROOT / "data" / "refined-zone"))
    registry.set_default("DAGSTER_HOME", str(ROOT / ".dagster_home"))
    home = prepare_local_environment()
    executing = tuple(argv[:2]) in EXECUTING and "--help" not in argv
    with _simulators(home) if executing else nullcontext():
        process = subprocess.Popen([sys.executable, "-m", "dagster", *argv])
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.send_signal(signal.SIGINT)
            return process.wait()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
