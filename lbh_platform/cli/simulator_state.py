"""Where a built-in simulator is running, kept in ``DAGSTER_HOME``: one small file per process
under ``simulators/``, so ``probe`` reaches the simulator of ``make dev`` / ``make run`` on
whatever port it got. The development kit (``lbh_platform_devkit``) writes these records;
``probe`` reads them, so the format lives here, with the reader.
"""

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lbh_platform import settings_registry as registry

RUNNING_DIR = "simulators"


def local_home() -> Path:
    """``DAGSTER_HOME``, else ``./.dagster_home``: where ``make`` and the entry points keep it."""
    return Path(registry.get("DAGSTER_HOME") or Path.cwd() / ".dagster_home")


def write_json(path: Path, content: dict, *, exclusive: bool = False) -> bool:
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
    write_json(
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
