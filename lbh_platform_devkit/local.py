"""Shared set-up for the local entry points (`make run`, `make dev`, `make serve`): zones,
DAGSTER_HOME and the registered stand-ins (:mod:`lbh_platform_devkit.stand_ins`)."""

import math
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from lbh_platform import settings_registry as registry
from lbh_platform.cli.probe import config_files
from lbh_platform.common.errors import ConfigurationError
from lbh_platform_devkit.stand_ins import STAND_INS, LocalWorld, StandIn, Started
from lbh_platform_devkit.world import simulated_world

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


def tascomi_files() -> tuple[Path, Path]:
    """The table list and catalogue the definitions load (same variables, same defaults)."""
    return config_files()


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


class LocalStandIns(ExitStack):
    """Every registered stand-in (:data:`STAND_INS`) of ``world``, with the environment pointed
    at them; stopped, and the environment restored, on exit. With ``keep_real_services``, a
    stand-in whose real service is configured (its ``real_service`` variable set) is left out
    and the real one used."""

    def __init__(
        self,
        world: LocalWorld,
        *,
        keep_real_services: bool = False,
        entries: Sequence[StandIn] = STAND_INS,
    ):
        super().__init__()
        self.world = world
        self.running: dict[str, Started] = {}
        try:
            for entry in entries:
                if keep_real_services and registry.get(entry.real_service):
                    continue
                started = entry.start(world)
                if started is None:
                    continue
                self.callback(started.stop)
                if set(started.environment) != set(entry.environment):
                    raise RuntimeError(
                        f"stand-in {entry.name!r} set {sorted(started.environment)}, but its "
                        f"entry declares {sorted(entry.environment)}"
                    )
                previous = {n: registry.environ().get(n) for n in started.environment}
                self.callback(self._restore, previous)
                for name, value in started.environment.items():
                    registry.put(name, value)
                self.running[entry.name] = started
        except BaseException:
            self.close()  # the stand-ins started so far
            raise

    @staticmethod
    def _restore(previous: dict[str, str | None]) -> None:
        """Point the environment back where it was: a stopped stand-in's address must not
        pass for a configured real service (blank reads as unset)."""
        for name, value in previous.items():
            registry.put(name, value or "")

    def __getitem__(self, name: str) -> Any:
        """The running stand-in registered as ``name`` (e.g. ``"tascomi"``)."""
        return self.running[name].server

    def describe(self) -> str:
        return ", ".join(f"{name} {started.url}" for name, started in self.running.items())

    def set_now(self, moment: datetime | None) -> None:
        """Every stand-in with a clock serves as of ``moment`` (None: real time)."""
        for started in self.running.values():
            if started.set_now is not None:
                started.set_now(moment)


def local_stand_ins(
    home: Path,
    *,
    first_day: date,
    scale: float | None,
    event_stream_days: list[date] | None,
    keep_real_services: bool = False,
) -> LocalStandIns:
    """The stand-ins of ``make run`` and ``make dev``: one simulated world (kept in ``home``,
    where ``probe`` also finds the running Tascomi simulator), so both entry points, and
    ``probe``, see the same records."""
    world = simulated_world(home, first_day, scale)
    return LocalStandIns(
        LocalWorld(
            epoch=world.epoch,
            seed=world.seed,
            scale=world.scale,
            event_days=tuple(event_stream_days or ()),
            announce_in=home,
        ),
        keep_real_services=keep_real_services,
    )
