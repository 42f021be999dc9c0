"""Shared set-up for the local entry points (`make run`, `make dev`): zones, DAGSTER_HOME and
the built-in API simulators."""

import math
from collections.abc import Collection
from contextlib import ExitStack
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from lbh_platform import settings_registry as registry
from lbh_platform.alloy.settings import SIMULATOR_KEY as ALLOY_SIMULATOR_KEY
from lbh_platform.alloy.settings import SIMULATOR_PORT as ALLOY_SIMULATOR_PORT
from lbh_platform.cli.simulator_state import announce, simulated_world, withdraw
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.tascomi.settings import (
    SIMULATOR_PORT,
    SIMULATOR_PRIVATE_KEY,
    SIMULATOR_PUBLIC_KEY,
)

DYNAMODB_STAND_IN_PORT = 8767
LONDON = ZoneInfo("Europe/London")  # the partitions' and the schedules' time zone
# The embedded default's instance (DAGSTER_HOME/dagster.yaml, written when absent or empty).
INSTANCE_CONFIG = """\
# Each table's (or dataset's) assets share a pool; a limit of one means two runs of the same
# table never interleave their steps, while different tables run side by side.
concurrency:
  pools:
    default_limit: 1
# Dagster's SQLite event log, keeping its engines instead of building one per event
# (lbh_platform/deploy/sqlite_event_log.py): the same files, half the daily run's time.
event_log_storage:
  module: lbh_platform.deploy.sqlite_event_log
  class: PooledSqliteEventLogStorage
# Dagster's launcher, plus a check run monitoring makes of each started run: is the process
# that started it (a run worker, or a command such as `dagster asset materialize`) still
# there? (lbh_platform/deploy/local_run_launcher.py)
run_launcher:
  module: lbh_platform.deploy.local_run_launcher
  class: LocalRunLauncher
# The daemon (`make dev`) fails a run whose process died within a poll, so its failure alert
# fires; a run that never starts fails after 5 minutes, one longer than 6 hours is ended.
run_monitoring:
  enabled: true
  poll_interval_seconds: 20
  start_timeout_seconds: 300
  cancel_timeout_seconds: 300
  max_runtime_seconds: 21600
  max_resume_run_attempts: 0   # a dead process is not resumed: its run fails
# No usage data leaves the council's machines (as in deploy/dagster.yaml; it also cost a
# storage query per step event).
telemetry:
  enabled: false
"""
# What earlier versions wrote: replaced by the current default, since nobody edited it.
_EARLIER_INSTANCE_CONFIGS = (
    "concurrency:\n  pools:\n    default_limit: 1\n",
    # Without run monitoring: a run whose process was killed stayed STARTED.
    """\
# Each table's (or dataset's) assets share a pool; a limit of one means two runs of the same
# table never interleave their steps, while different tables run side by side.
concurrency:
  pools:
    default_limit: 1
# Dagster's SQLite event log, keeping its engines instead of building one per event
# (lbh_platform/deploy/sqlite_event_log.py): the same files, half the daily run's time.
event_log_storage:
  module: lbh_platform.deploy.sqlite_event_log
  class: PooledSqliteEventLogStorage
# No usage data leaves the council's machines (as in deploy/dagster.yaml; it also cost a
# storage query per step event).
telemetry:
  enabled: false
""",
)


def prepare_local_environment() -> Path:
    """Default zones and DAGSTER_HOME under the current folder (kept if already set)."""
    cwd = Path.cwd()
    registry.set_default("LBH_RAW_ZONE", str(cwd / "data" / "raw-zone"))
    registry.set_default("LBH_REFINED_ZONE", str(cwd / "data" / "refined-zone"))
    home = Path(registry.set_default("DAGSTER_HOME", str(cwd / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text().strip() in ("", *_stripped_earlier()):
        config.write_text(INSTANCE_CONFIG)
    return home


def _stripped_earlier() -> tuple[str, ...]:
    return tuple(text.strip() for text in _EARLIER_INSTANCE_CONFIGS)


def _start(make, port: int):
    """Start on the usual port; if it is taken (another demo running), on a free one."""
    for candidate in (port, 0):
        server = make(candidate)
        try:
            server.start()
        except OSError:
            continue
        return server
    raise RuntimeError("could not start a simulator on any port")


def tascomi_files() -> tuple[Path, Path]:
    """The table list and catalogue the definitions load (same variables, same defaults)."""
    from lbh_platform.tascomi.column_types import DEFAULT_CATALOGUE_FILE
    from lbh_platform.tascomi.tables import DEFAULT_TABLES_FILE

    tables = Path(registry.get("LBH_TASCOMI_TABLES_FILE") or DEFAULT_TABLES_FILE)
    types = Path(registry.get("LBH_TASCOMI_COLUMN_TYPES_FILE") or DEFAULT_CATALOGUE_FILE)
    return tables, types


def requested_scale() -> float | None:
    """``LBH_SIM_SCALE``, or None (the simulated world's own scale)."""
    text = (registry.get("LBH_SIM_SCALE") or "").strip()
    if not text:
        return None
    try:
        scale = float(text)
    except ValueError:
        scale = 0.0
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigurationError(f"LBH_SIM_SCALE must be a positive number, got {text!r}")
    return scale


class Simulators(ExitStack):
    """The Tascomi and Alloy simulators, with the environment pointed at them; recorded in
    ``announce_in`` (a DAGSTER_HOME) while they run, so ``probe`` finds them on any port."""

    def __init__(
        self,
        tables,
        datasets,
        *,
        scale: float,
        epoch: date,
        seed: int = 0,
        paused: Collection[str] = (),
        catalogue=None,
        event_stream_days: list[date] | None = None,
        announce_in: Path | None = None,
    ):
        super().__init__()
        from lbh_platform.alloy.simulator import AlloySimulator
        from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
        from lbh_platform.tascomi.simulator import TascomiSimulator

        catalogue = catalogue or ColumnTypeCatalogue.load()
        self.tascomi = _start(
            lambda port: TascomiSimulator(
                tables,
                catalogue,
                more_resources=paused,
                scale=scale,
                seed=seed,
                epoch=epoch,
                port=port,
                public_key=SIMULATOR_PUBLIC_KEY,
                private_key=SIMULATOR_PRIVATE_KEY,
            ),
            SIMULATOR_PORT,
        )
        self.callback(self.tascomi.stop)
        self.alloy = _start(
            lambda port: AlloySimulator(
                datasets,
                api_key=ALLOY_SIMULATOR_KEY,
                scale=scale,
                seed=seed,
                epoch=epoch,
                port=port,
                polls_to_complete=2,
            ),
            ALLOY_SIMULATOR_PORT,
        )
        self.callback(self.alloy.stop)
        for name, value in (
            ("TASCOMI_API_URL", self.tascomi.base_url),
            ("TASCOMI_PUBLIC_KEY", SIMULATOR_PUBLIC_KEY),
            ("TASCOMI_PRIVATE_KEY", SIMULATOR_PRIVATE_KEY),
            ("ALLOY_API_URL", self.alloy.base_url),
            ("ALLOY_API_KEY", ALLOY_SIMULATOR_KEY),
        ):
            registry.put(name, value)
        if announce_in is not None:
            record = announce(announce_in, self.tascomi.base_url, self.alloy.base_url)
            self.callback(withdraw, record)

        if event_stream_days:
            self._start_event_streams(event_stream_days, scale)

    def _start_event_streams(self, days: list[date], scale: float) -> None:
        """The DynamoDB stand-in holding every event-streamed entity's table (Tenure, Contact
        details) as of the first day, and the Parquet event files the S3 sink would have
        written for every day, in its import_year=/.../import_date= folders."""
        from lbh_platform.event_streams.seed import seed_event_streams

        self.dynamodb = seed_event_streams(
            days, entities=max(20, int(200 * scale)), port=DYNAMODB_STAND_IN_PORT, start=_start
        )
        self.callback(self.dynamodb.stop)

    def set_now(self, moment: datetime | None) -> None:
        self.tascomi.set_now(moment)
        self.alloy.set_now(moment)


def local_simulators(
    home: Path,
    *,
    first_day: date,
    scale: float | None,
    event_stream_days: list[date] | None,
) -> Simulators:
    """The simulators of ``make run`` and ``make dev``: one simulated world (kept in ``home``),
    serving every table of the configured list (ingested or paused) and of the catalogue, so
    both entry points, and ``probe``, see the same records."""
    from lbh_platform.alloy.datasets import load_datasets
    from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
    from lbh_platform.tascomi.tables import load_table_list

    tables_file, types_file = tascomi_files()
    table_list = load_table_list(tables_file)
    world = simulated_world(home, first_day, scale)
    return Simulators(
        table_list.tables,
        load_datasets(),
        scale=world.scale,
        epoch=world.epoch,
        seed=world.seed,
        paused=table_list.paused,
        catalogue=ColumnTypeCatalogue.load(types_file),
        event_stream_days=event_stream_days,
        announce_in=home,
    )
