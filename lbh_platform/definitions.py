"""Dagster definitions for the whole platform: ``defs``.

Built from configuration at load time: the Tascomi table list and column-type catalogue
(``LBH_TASCOMI_TABLES_FILE`` / ``LBH_TASCOMI_COLUMN_TYPES_FILE`` override the shipped ones) and
the Alloy AQS query files (``LBH_ALLOY_DATASETS_DIR``).
"""

import os
from pathlib import Path

import dagster as dg

from lbh_platform.alloy.datasets import DEFAULT_DATASETS_DIR, AlloyDataset, load_datasets
from lbh_platform.defs.alloy.assets import build_dataset_assets
from lbh_platform.defs.alloy.automation import build_alloy_automation
from lbh_platform.defs.alloy.checks import build_dataset_checks
from lbh_platform.defs.engine import build_engine_resources
from lbh_platform.defs.resources import LakeResource, api_resources
from lbh_platform.defs.tascomi.assets import build_table_assets
from lbh_platform.defs.tascomi.automation import automation_sensor, build_jobs_and_schedules
from lbh_platform.defs.tascomi.checks import build_table_checks
from lbh_platform.defs.tenure import build_tenure_definitions
from lbh_platform.settings import Settings, load_settings
from lbh_platform.tascomi.column_types import DEFAULT_CATALOGUE_FILE, ColumnTypeCatalogue
from lbh_platform.tascomi.tables import DEFAULT_TABLES_FILE, TascomiTable, load_tables


def _secret(name: str, value: str) -> str | dg.EnvVar:
    """Read keys through ``EnvVar`` when set, so the UI shows the variable name, not the value."""
    return dg.EnvVar(name) if os.environ.get(name) else value


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        **build_engine_resources(),
        "lake": LakeResource.from_settings(settings),
        **api_resources(settings, _secret),  # tascomi_api / alloy_api (or Secrets Manager)
    }


def build_definitions(
    tables: list[TascomiTable],
    catalogue: ColumnTypeCatalogue,
    settings: Settings,
    alloy_datasets: list[AlloyDataset] | None = None,
    include_tenure: bool = False,
) -> dg.Definitions:
    """Everything from configuration: each pipeline's factory per table or dataset."""
    assets: list[dg.AssetsDefinition] = []
    checks: list[dg.AssetChecksDefinition] = []
    for table in tables:
        types = catalogue.columns(table.name)
        assets.extend(build_table_assets(table, types))
        checks.extend(build_table_checks(table, types))
    for dataset in alloy_datasets or []:
        assets.extend(build_dataset_assets(dataset))
        checks.extend(build_dataset_checks(dataset))
    jobs, schedules = build_jobs_and_schedules(tables)
    alloy_jobs, alloy_schedules = build_alloy_automation(alloy_datasets or [])
    tenure = build_tenure_definitions() if include_tenure else None
    jobs, schedules = jobs + alloy_jobs, schedules + alloy_schedules
    sensors: list = [automation_sensor]
    resources: dict = build_resources(settings)
    if tenure is not None:
        assets += tenure["assets"]
        checks += tenure["asset_checks"]
        jobs += tenure["jobs"]
        schedules += tenure["schedules"]
        sensors += tenure["sensors"]
        resources.update(tenure["resources"])
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=resources,
    )


def load_definitions() -> dg.Definitions:
    tables_file = Path(os.environ.get("LBH_TASCOMI_TABLES_FILE") or DEFAULT_TABLES_FILE)
    types_file = Path(os.environ.get("LBH_TASCOMI_COLUMN_TYPES_FILE") or DEFAULT_CATALOGUE_FILE)
    alloy_dir = Path(os.environ.get("LBH_ALLOY_DATASETS_DIR") or DEFAULT_DATASETS_DIR)
    return build_definitions(
        load_tables(tables_file),
        ColumnTypeCatalogue.load(types_file),
        load_settings(),
        load_datasets(alloy_dir),
        include_tenure=True,
    )


defs = load_definitions()
