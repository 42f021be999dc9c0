"""Dagster definitions for the whole platform: ``defs``.

Built from configuration at load time: the Tascomi table list and column-type catalogue
(``LBH_TASCOMI_TABLES_FILE`` / ``LBH_TASCOMI_COLUMN_TYPES_FILE`` override the shipped ones).
"""

import os
from pathlib import Path

import dagster as dg

from lbh_platform.defs.resources import LakeResource, TascomiApiResource
from lbh_platform.defs.tascomi.assets import build_table_assets
from lbh_platform.defs.tascomi.automation import automation_sensor, build_jobs_and_schedules
from lbh_platform.defs.tascomi.checks import build_table_checks
from lbh_platform.settings import Settings, load_settings
from lbh_platform.tascomi.column_types import DEFAULT_CATALOGUE_FILE, ColumnTypeCatalogue
from lbh_platform.tascomi.tables import DEFAULT_TABLES_FILE, TascomiTable, load_tables


def _secret(name: str, value: str) -> str | dg.EnvVar:
    """Read keys through ``EnvVar`` when set, so the UI shows the variable name, not the value."""
    return dg.EnvVar(name) if os.environ.get(name) else value


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "lake": LakeResource(raw_zone=settings.raw_zone, refined_zone=settings.refined_zone),
        "tascomi_api": TascomiApiResource(
            base_url=settings.tascomi_api_url,
            public_key=_secret("TASCOMI_PUBLIC_KEY", settings.tascomi_public_key),
            private_key=_secret("TASCOMI_PRIVATE_KEY", settings.tascomi_private_key),
        ),
    }


def build_definitions(
    tables: list[TascomiTable],
    catalogue: ColumnTypeCatalogue,
    settings: Settings,
) -> dg.Definitions:
    assets: list[dg.AssetsDefinition] = []
    checks: list[dg.AssetChecksDefinition] = []
    for table in tables:
        types = catalogue.columns(table.name)
        assets.extend(build_table_assets(table, types))
        checks.extend(build_table_checks(table, types))
    jobs, schedules = build_jobs_and_schedules(tables)
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        schedules=schedules,
        sensors=[automation_sensor],
        resources=build_resources(settings),
    )


def load_definitions() -> dg.Definitions:
    tables_file = Path(os.environ.get("LBH_TASCOMI_TABLES_FILE") or DEFAULT_TABLES_FILE)
    types_file = Path(os.environ.get("LBH_TASCOMI_COLUMN_TYPES_FILE") or DEFAULT_CATALOGUE_FILE)
    return build_definitions(
        load_tables(tables_file), ColumnTypeCatalogue.load(types_file), load_settings()
    )


defs = load_definitions()
