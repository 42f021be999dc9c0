"""Alloy's definitions: export and snapshot assets per dataset, checks, the weekday schedule,
and the ``alloy_api`` resource."""

from pathlib import Path

import dagster as dg

from lbh_platform import settings_registry as registry
from lbh_platform.alloy.datasets import DEFAULT_DATASETS_DIR, AlloyDataset, load_datasets
from lbh_platform.common.monitoring_config import MonitoringConfig, load_monitoring_config
from lbh_platform.defs.alloy.assets import asset_key, build_dataset_assets
from lbh_platform.defs.alloy.automation import build_alloy_automation
from lbh_platform.defs.alloy.checks import build_dataset_checks
from lbh_platform.defs.monitoring import with_monitoring
from lbh_platform.defs.resources import alloy_api_resource
from lbh_platform.settings import Settings


def build_alloy_definitions(
    datasets: list[AlloyDataset], settings: Settings, monitoring: MonitoringConfig | None = None
) -> dg.Definitions:
    """One factory call per AQS query file: adding a dataset adds all of this, including the
    weekday freshness check of each snapshot and the volume check of each export table."""
    monitoring = monitoring or load_monitoring_config()
    assets: list[dg.AssetsDefinition] = []
    checks: list[dg.AssetChecksDefinition] = []
    for dataset in datasets:
        assets.extend(build_dataset_assets(dataset))
        checks.extend(build_dataset_checks(dataset, monitoring))
    jobs, schedules = build_alloy_automation(datasets)
    tables = [(d.name, t) for d in datasets for t in d.tables]
    return with_monitoring(
        "alloy",
        dg.Definitions(
            assets=assets,
            asset_checks=checks,
            jobs=jobs,
            schedules=schedules,
            resources={"alloy_api": alloy_api_resource(settings)},
        ),
        deadlines={asset_key("snapshot", d, t): "weekdays" for d, t in tables},
        monitoring=monitoring,
    )


def load_alloy_definitions(settings: Settings) -> dg.Definitions:
    """From the shipped AQS files, or the folder ``LBH_ALLOY_DATASETS_DIR`` names."""
    folder = Path(registry.get("LBH_ALLOY_DATASETS_DIR") or DEFAULT_DATASETS_DIR)
    return build_alloy_definitions(load_datasets(folder), settings)
