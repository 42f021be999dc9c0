"""Shared set-up for the local entry points (`make run`, `make dev`)."""

import os
from pathlib import Path

from lbh_platform.settings import DEFAULT_TASCOMI_URL


def prepare_local_environment() -> Path:
    """Default zones and DAGSTER_HOME under the current folder (kept if already set)."""
    cwd = Path.cwd()
    os.environ.setdefault("LBH_RAW_ZONE", str(cwd / "data" / "raw-zone"))
    os.environ.setdefault("LBH_REFINED_ZONE", str(cwd / "data" / "refined-zone"))
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(cwd / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").touch(exist_ok=True)
    return home


def simulator_port() -> int:
    """The port of the default ``TASCOMI_API_URL`` (where the built-in simulator listens)."""
    return int(DEFAULT_TASCOMI_URL.split(":")[2].split("/")[0])
