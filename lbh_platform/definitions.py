"""Dagster definitions for the whole platform: ``defs``.

Each source's package under ``lbh_platform/defs/<source>/`` returns its own ``dg.Definitions``
from its configuration (the Tascomi table list and column-type catalogue, the Alloy AQS files,
the event-streamed entities of ``config/event_streams.yaml``); they are merged with the shared
resources and sensor here. Adding a source is one package and one entry in ``SOURCES``.
"""

from collections.abc import Callable

import dagster as dg

from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.defs.alloy.definitions import build_alloy_definitions, load_alloy_definitions
from lbh_platform.defs.event_streams import (
    build_event_streams_definitions,
    load_event_streams_definitions,
)
from lbh_platform.defs.shared import build_shared_definitions
from lbh_platform.defs.tascomi.definitions import (
    build_tascomi_definitions,
    load_tascomi_definitions,
)
from lbh_platform.settings import Settings, load_settings
from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
from lbh_platform.tascomi.tables import TascomiTable

SOURCES: tuple[Callable[[Settings], dg.Definitions], ...] = (
    load_tascomi_definitions,
    load_alloy_definitions,
    load_event_streams_definitions,
)


def build_definitions(
    tables: list[TascomiTable],
    catalogue: ColumnTypeCatalogue,
    settings: Settings,
    alloy_datasets: list[AlloyDataset] | None = None,
    include_event_streams: bool = False,
) -> dg.Definitions:
    """The platform from explicit configuration (tests, the demo): the shared part, Tascomi,
    and Alloy and the event-streamed entities (Tenure, Contact details) when asked for."""
    parts = [
        build_shared_definitions(settings),
        build_tascomi_definitions(tables, catalogue, settings),
        build_alloy_definitions(alloy_datasets or [], settings),
    ]
    if include_event_streams:
        parts.append(build_event_streams_definitions())
    return dg.Definitions.merge(*parts)


def load_definitions() -> dg.Definitions:
    """The platform from the environment: every source in ``SOURCES``."""
    settings = load_settings()
    return dg.Definitions.merge(
        build_shared_definitions(settings), *(load(settings) for load in SOURCES)
    )


defs = load_definitions()
