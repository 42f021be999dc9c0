"""Every source's local stand-in, registered in one place.

``make run``, ``make dev`` and ``make serve`` (and the tests and benchmarks that start "the
local APIs") loop over :data:`STAND_INS` instead of naming sources: a new source adds one
:class:`StandIn` entry here, a start function turning the shared :class:`LocalWorld` into a
running :class:`Started` stand-in and the environment variables it points at it.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from lbh_platform import settings_registry as registry

DYNAMODB_STAND_IN_PORT = 8767

Server = TypeVar("Server")


@dataclass(frozen=True)
class LocalWorld:
    """What every stand-in's data depends on: one simulated world (epoch, seed, scale), the
    days whose event files to seed (none: no event stand-in), and the ``DAGSTER_HOME`` where a
    running simulator is recorded for ``probe`` (None: not recorded)."""

    epoch: date
    seed: int = 0
    scale: float = 1.0
    event_days: tuple[date, ...] = ()
    announce_in: Path | None = None


@dataclass(frozen=True)
class Started:
    """A running stand-in: ``server`` is the object itself (tests reach in to inject faults or
    read its request log), ``environment`` the variables that point the pipelines at it."""

    server: Any
    url: str
    environment: Mapping[str, str]
    stop: Callable[[], None]
    set_now: Callable[[datetime | None], None] | None = None


@dataclass(frozen=True)
class StandIn:
    """One source's local stand-in. ``start`` returns None when the world gives it nothing to
    serve; ``real_service`` is the variable that, when set, names the real service (then the
    entry points that honour real services leave this stand-in out)."""

    name: str
    start: Callable[[LocalWorld], Started | None]
    environment: tuple[str, ...]
    real_service: str


def start_on_port(make: Callable[[int], Server], port: int) -> Server:
    """Start on the usual port; if it is taken (another demo running), on a free one."""
    for candidate in (port, 0):
        server = make(candidate)
        try:
            server.start()  # type: ignore[attr-defined]
        except OSError:
            continue
        return server
    raise RuntimeError("could not start a simulator on any port")


def _tascomi(world: LocalWorld) -> Started:
    """Every table of the configured list (ingested or paused) and of the catalogue, so a
    table added while it runs (``probe --write``) is served without a restart."""
    from lbh_platform.cli.probe import config_files
    from lbh_platform.cli.simulator_state import announce, withdraw
    from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
    from lbh_platform.tascomi.settings import (
        SIMULATOR_PORT,
        SIMULATOR_PRIVATE_KEY,
        SIMULATOR_PUBLIC_KEY,
    )
    from lbh_platform.tascomi.tables import load_table_list
    from lbh_platform_devkit.tascomi.simulator import TascomiSimulator

    tables_file, types_file = config_files()
    table_list = load_table_list(tables_file)
    catalogue = ColumnTypeCatalogue.load(types_file)
    server = start_on_port(
        lambda port: TascomiSimulator(
            table_list.tables,
            catalogue,
            more_resources=table_list.paused,
            scale=world.scale,
            seed=world.seed,
            epoch=world.epoch,
            port=port,
            public_key=SIMULATOR_PUBLIC_KEY,
            private_key=SIMULATOR_PRIVATE_KEY,
        ),
        SIMULATOR_PORT,
    )
    stop = server.stop
    if world.announce_in is not None:
        record = announce(world.announce_in, server.base_url)

        def stop() -> None:
            withdraw(record)
            server.stop()

    environment = {
        "TASCOMI_API_URL": server.base_url,
        "TASCOMI_PUBLIC_KEY": SIMULATOR_PUBLIC_KEY,
        "TASCOMI_PRIVATE_KEY": SIMULATOR_PRIVATE_KEY,
    }
    return Started(server, server.base_url, environment, stop, server.set_now)


def _alloy(world: LocalWorld) -> Started:
    """The datasets the definitions load (``LBH_ALLOY_DATASETS_DIR``, else the shipped ones)."""
    from lbh_platform.alloy.datasets import DEFAULT_DATASETS_DIR, load_datasets
    from lbh_platform.alloy.settings import SIMULATOR_KEY, SIMULATOR_PORT
    from lbh_platform_devkit.alloy.simulator import AlloySimulator

    datasets = load_datasets(Path(registry.get("LBH_ALLOY_DATASETS_DIR") or DEFAULT_DATASETS_DIR))
    server = start_on_port(
        lambda port: AlloySimulator(
            datasets,
            api_key=SIMULATOR_KEY,
            scale=world.scale,
            seed=world.seed,
            epoch=world.epoch,
            port=port,
            polls_to_complete=2,
        ),
        SIMULATOR_PORT,
    )
    environment = {"ALLOY_API_URL": server.base_url, "ALLOY_API_KEY": SIMULATOR_KEY}
    return Started(server, server.base_url, environment, server.stop, server.set_now)


def _event_streams(world: LocalWorld) -> Started | None:
    """The DynamoDB stand-in holding every event-streamed entity's table as of the first day,
    and the Parquet event files the S3 sink would have written for every day in the raw zone."""
    if not world.event_days:
        return None
    from lbh_platform_devkit.event_streams.seed import seed_event_streams

    stand_in = seed_event_streams(
        list(world.event_days),
        entities=max(20, int(200 * world.scale)),
        port=DYNAMODB_STAND_IN_PORT,
        start=start_on_port,
    )
    environment = {"AWS_ENDPOINT_URL_DYNAMODB": stand_in.endpoint_url}
    return Started(stand_in, stand_in.endpoint_url, environment, stand_in.stop)


STAND_INS: tuple[StandIn, ...] = (
    StandIn(
        "tascomi",
        _tascomi,
        ("TASCOMI_API_URL", "TASCOMI_PUBLIC_KEY", "TASCOMI_PRIVATE_KEY"),
        real_service="TASCOMI_API_URL",
    ),
    StandIn("alloy", _alloy, ("ALLOY_API_URL", "ALLOY_API_KEY"), real_service="ALLOY_API_URL"),
    StandIn(
        "event_streams",
        _event_streams,
        ("AWS_ENDPOINT_URL_DYNAMODB",),
        real_service="AWS_ENDPOINT_URL_DYNAMODB",
    ),
)
