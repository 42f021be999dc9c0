"""Tascomi's definitions: the source spec of every configured table, built."""

from pathlib import Path

import dagster as dg

from lbh_platform import settings_registry as registry
from lbh_platform.common.monitoring_config import MonitoringConfig
from lbh_platform.defs.tascomi.resources import tascomi_api_resource
from lbh_platform.defs.tascomi.spec import API, tascomi_source
from lbh_platform.lib.build import build_source
from lbh_platform.lib.spec import SourceSpec
from lbh_platform.settings import load_settings
from lbh_platform.tascomi.column_types import (
    DEFAULT_CATALOGUE_FILE,
    ColumnTypeCatalogue,
    check_catalogue_tables,
)
from lbh_platform.tascomi.settings import load_tascomi_settings
from lbh_platform.tascomi.tables import DEFAULT_TABLES_FILE, TascomiTable, load_table_list


def build_tascomi_definitions(
    tables: list[TascomiTable],
    catalogue: ColumnTypeCatalogue,
    monitoring: MonitoringConfig | None = None,
) -> dg.Definitions:
    settings = load_tascomi_settings()  # a real API without keys fails here, at load
    region = load_settings().aws_region
    resources = {API: lambda: tascomi_api_resource(settings, region)}
    return build_source(tascomi_source(tables, catalogue, resources), monitoring)


def tascomi_config() -> tuple[list[TascomiTable], ColumnTypeCatalogue]:
    """The table list and catalogue (``LBH_TASCOMI_TABLES_FILE`` /
    ``LBH_TASCOMI_COLUMN_TYPES_FILE``, else the shipped ones). A catalogue table the list
    neither ingests nor pauses fails the load (a typo would leave the intended table untyped)."""
    tables_file = Path(registry.get("LBH_TASCOMI_TABLES_FILE") or DEFAULT_TABLES_FILE)
    types_file = Path(registry.get("LBH_TASCOMI_COLUMN_TYPES_FILE") or DEFAULT_CATALOGUE_FILE)
    table_list = load_table_list(tables_file)
    catalogue = ColumnTypeCatalogue.load(types_file)
    check_catalogue_tables(
        catalogue.tables(),
        [table.name for table in table_list.tables],
        table_list.paused,
        catalogue_file=types_file,
        tables_file=tables_file,
    )
    return table_list.tables, catalogue


def source_specs() -> list[SourceSpec]:
    """The spec as configured (resources unmade): for tools that walk every source's assets."""
    return [tascomi_source(*tascomi_config(), {})]


@dg.definitions
def defs() -> dg.Definitions:
    return build_tascomi_definitions(*tascomi_config())
