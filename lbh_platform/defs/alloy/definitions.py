"""Alloy's definitions: export and snapshot assets per dataset, checks, the weekday schedule,
and the ``alloy_api`` resource."""

import os
from pathlib import Path

import dagster as dg

from lbh_platform.alloy.datasets import DEFAULT_DATASETS_DIR, AlloyDataset, load_datasets
from lbh_platform.defs.alloy.assets import build_dataset_assets
from lbh_platform.defs.alloy.automation import build_alloy_automation
from lbh_platform.defs.alloy.checks import build_dataset_checks
from lbh_platform.defs.resources import alloy_api_resource
from lbh_platform.settings import Settings


def build_alloy_definitions(datasets: list[AlloyDataset], settings: Settings) -> dg.Definitions:
    """One factory call per AQS query file: adding a dataset adds all of this."""
    assets: list[dg.AssetsDefinition] = []
    checks: list[dg.AssetChecksDefinition] = []
    for dataset in datasets:
        assets.extend(build_dataset_assets(dataset))
        checks.extend(build_dataset_checks(dataset))
    jobs, schedules = build_alloy_automation(datasets)
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        schedules=schedules,
        resources={"alloy_api": alloy_api_resource(settings)},
    )


def load_alloy_definitions(settings: Settings) -> dg.Definitions:
    """From the shipped AQS files, or the folder ``LBH_ALLOY_DATASETS_DIR`` names."""
    folder = Path(os.environ.get("LBH_ALLOY_DATASETS_DIR") or DEFAULT_DATASETS_DIR)
    return build_alloy_definitions(load_datasets(folder), settings)
