"""The simulated world the local entry points share, kept in ``DAGSTER_HOME``.

Its epoch, seed and scale are chosen once, by whichever of ``make run`` / ``make dev`` starts
first, and kept in ``simulated_world.json``, so data one of them made continues under the
other, and on every later day (a world derived from "today" would hand out different record
ids each day).
"""

import json
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from lbh_platform.cli.simulator_state import write_json
from lbh_platform.common.errors import ConfigurationError

WORLD_FILE = "simulated_world.json"
# A new world starts this long before the first day it is asked for: some days of changes
# for the first runs to import (its records were last updated over the year before).
HISTORY_DAYS = 30


@dataclass(frozen=True)
class World:
    """Everything the simulators' records depend on besides the configuration."""

    epoch: date
    seed: int = 0
    scale: float = 1.0


def _read_world(path: Path) -> World:
    try:
        content = json.loads(path.read_text())
        world = World(
            date.fromisoformat(content["epoch"]), int(content["seed"]), float(content["scale"])
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"{path}: not a simulated world ({type(exc).__name__}: {exc}); delete it to start "
            "a new one (the data made so far will not continue)"
        ) from None
    if world.scale <= 0:
        raise ConfigurationError(f"{path}: scale must be positive, got {world.scale}")
    return world


def simulated_world(home: Path, first_day: date, scale: float | None = None) -> World:
    """The world kept in ``home``, created on first use to start ``HISTORY_DAYS`` before
    ``first_day`` at ``scale`` (default 1). A different ``scale`` asked of an existing world
    is used, with a warning: its records differ from those made so far."""
    path = home / WORLD_FILE
    if not path.exists():
        new = World(first_day - timedelta(days=HISTORY_DAYS), 0, 1.0 if scale is None else scale)
        content = {"epoch": new.epoch.isoformat(), "seed": new.seed, "scale": new.scale}
        if write_json(path, content, exclusive=True):
            return new
    world = _read_world(path)
    if scale is None or float(scale) == world.scale:
        return world
    print(
        f"warning: the simulated world in {path} has scale {world.scale:g}; at scale "
        f"{scale:g} the simulators serve other records, so the data made so far does not "
        f"continue (use scale {world.scale:g}, or `make clean` to start a new world)",
        file=sys.stderr,
        flush=True,
    )
    return World(world.epoch, world.seed, float(scale))
