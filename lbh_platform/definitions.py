"""Dagster definitions for the whole platform: ``defs``.

Every folder under ``lbh_platform/defs/`` brings its own definitions (``definitions.py``: a
source's spec built from its configuration, or the platform's shared resources and sensors);
``defs`` is their one load, so adding a source is adding a folder. :func:`build_definitions`
builds the same from explicit configuration, for tests and the demo.
"""

from pathlib import Path

import dagster as dg

import lbh_platform.defs
from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.monitoring_config import load_monitoring_config, monitoring_file
from lbh_platform.defs.alloy.definitions import build_alloy_definitions
from lbh_platform.defs.event_streams.definitions import build_event_streams_definitions
from lbh_platform.defs.platform.shared import build_shared_definitions
from lbh_platform.defs.tascomi.definitions import build_tascomi_definitions
from lbh_platform.settings import Settings
from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
from lbh_platform.tascomi.tables import TascomiTable


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
        build_tascomi_definitions(tables, catalogue),
        build_alloy_definitions(alloy_datasets or []),
    ]
    if include_event_streams:
        parts.append(build_event_streams_definitions())
    return dg.Definitions.merge(*parts)


def load_definitions() -> dg.Definitions:
    """Every folder of ``lbh_platform/defs``, from the environment. A monitoring override
    naming no asset fails the load (it would silently not apply)."""
    defs = dg.load_from_defs_folder(path_within_project=Path(lbh_platform.defs.__file__).parent)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    unknown = load_monitoring_config().unknown_overrides(keys)
    if unknown:
        raise ConfigurationError(
            f"{monitoring_file()}: overrides for assets that do not exist: {unknown}. Asset "
            "keys end in <table>_<stage> (e.g. tascomi/snapshot/applications_snapshot); "
            "fix or remove these entries."
        )
    return defs


defs = load_definitions()
