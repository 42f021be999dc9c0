"""Tascomi's definitions: the four stages, checks, jobs and schedules of every configured table,
and the ``tascomi_api`` resource."""

from pathlib import Path

import dagster as dg

from lbh_platform import settings_registry as registry
from lbh_platform.common.monitoring_config import MonitoringConfig, load_monitoring_config
from lbh_platform.defs.monitoring import with_monitoring
from lbh_platform.defs.resources import tascomi_api_resource
from lbh_platform.defs.tascomi.assets import asset_key, build_table_assets
from lbh_platform.defs.tascomi.automation import build_jobs_and_schedules
from lbh_platform.defs.tascomi.checks import build_table_checks
from lbh_platform.settings import Settings
from lbh_platform.tascomi.column_types import (
    DEFAULT_CATALOGUE_FILE,
    ColumnTypeCatalogue,
    check_catalogue_tables,
)
from lbh_platform.tascomi.tables import DEFAULT_TABLES_FILE, TascomiTable, load_table_list


def build_tascomi_definitions(
    tables: list[TascomiTable],
    catalogue: ColumnTypeCatalogue,
    settings: Settings,
    monitoring: MonitoringConfig | None = None,
) -> dg.Definitions:
    """One factory call per table entry: adding a table to the list adds all of this,
    including its freshness check (deadline from its cadence) and volume checks."""
    monitoring = monitoring or load_monitoring_config()
    assets: list[dg.AssetsDefinition] = []
    checks: list[dg.AssetChecksDefinition] = []
    for table in tables:
        types = catalogue.columns(table.name)
        assets.extend(build_table_assets(table, types))
        checks.extend(build_table_checks(table, types, monitoring))
    jobs, schedules = build_jobs_and_schedules(tables)
    return with_monitoring(
        "tascomi",
        dg.Definitions(
            assets=assets,
            asset_checks=checks,
            jobs=jobs,
            schedules=schedules,
            resources={"tascomi_api": tascomi_api_resource(settings)},
        ),
        deadlines={asset_key("snapshot", t.name): t.cadence for t in tables},
        monitoring=monitoring,
    )


def load_tascomi_definitions(settings: Settings) -> dg.Definitions:
    """From the shipped table list and catalogue, or the files ``LBH_TASCOMI_TABLES_FILE`` /
    ``LBH_TASCOMI_COLUMN_TYPES_FILE`` name. A catalogue table the list neither ingests nor
    pauses fails the load (a typo would leave the intended table untyped)."""
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
    return build_tascomi_definitions(table_list.tables, catalogue, settings)
