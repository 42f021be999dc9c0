"""What the local entry points share about the built-in simulators, kept in ``DAGSTER_HOME``.

- The simulated world (epoch, seed, scale): chosen once, by whichever of ``make run`` /
  ``make dev`` starts first, and kept in ``simulated_world.json``, so data one of them made
  continues under the other, and on every later day (a world derived from "today" would hand
  out different record ids each day).
- Where a simulator is running: one small file per process under ``simulators/``, so ``probe``
  reaches the simulator of ``make dev`` / ``make run`` on whatever port it got.
"""

import contextlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError

WORLD_FILE = "simulated_world.json"
RUNNING_DIR = "simulators"
# A new world starts this long before the first day it is asked for: some days of changes
# for the first runs to import (its records were last updated over the year before).
HISTORY_DAYS = 30


def local_home() -> Path:
    """``DAGSTER_HOME``, else ``./.dagster_home``: where ``make`` and the entry points keep it."""
    return Path(registry.get("DAGSTER_HOME") or Path.cwd() / ".dagster_home")


def _write_json(path: Path, content: dict, *, exclusive: bool = False) -> bool:
    """Write atomically; with ``exclusive``, only if ``path`` does not exist yet (returns
    False when another process created it first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(content, out, indent=2)
            out.write("\n")
        if not exclusive:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        Path(temporary).unlink(missing_ok=True)


# --- the simulated world -------------------------------------------------------------------


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
        if _write_json(path, content, exclusive=True):
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


# --- running simulators --------------------------------------------------------------------


@dataclass(frozen=True)
class Running:
    """A simulator some process is serving."""

    pid: int
    tascomi_url: str
    alloy_url: str | None
    started: str
    source: Path


def announce(home: Path, tascomi_url: str, alloy_url: str | None = None) -> Path:
    """Record this process's simulator; returns the record, for :func:`withdraw`."""
    port = tascomi_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[-1]
    path = home / RUNNING_DIR / f"{os.getpid()}-{port}.json"
    started = datetime.now(UTC).isoformat(timespec="seconds")
    _write_json(
        path,
        {"pid": os.getpid(), "tascomi": tascomi_url, "alloy": alloy_url, "started": started},
    )
    return path


def withdraw(record: Path) -> None:
    record.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def find_running(home: Path) -> Running | None:
    """The most recently started simulator still running for ``home`` (records of processes
    that ended without withdrawing them, e.g. killed, are ignored), or None."""
    found: list[Running] = []
    for path in sorted((home / RUNNING_DIR).glob("*.json")):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            content = json.loads(path.read_text())
            running = Running(
                int(content["pid"]),
                str(content["tascomi"]),
                content.get("alloy"),
                str(content["started"]),
                path,
            )
            if _alive(running.pid):
                found.append(running)
    return max(found, key=lambda r: r.started, default=None)
