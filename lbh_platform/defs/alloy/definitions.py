"""Alloy's definitions: the source spec of every AQS query file, built."""

from pathlib import Path

import dagster as dg

from lbh_platform import settings_registry as registry
from lbh_platform.alloy.datasets import DEFAULT_DATASETS_DIR, AlloyDataset, load_datasets
from lbh_platform.alloy.settings import load_alloy_settings
from lbh_platform.common.monitoring_config import MonitoringConfig
from lbh_platform.defs.alloy.resources import alloy_api_resource
from lbh_platform.defs.alloy.spec import API, alloy_source
from lbh_platform.lib.build import build_source
from lbh_platform.lib.spec import SourceSpec
from lbh_platform.settings import load_settings


def build_alloy_definitions(
    datasets: list[AlloyDataset], monitoring: MonitoringConfig | None = None
) -> dg.Definitions:
    settings = load_alloy_settings()  # a real API without a key fails here, at load
    region = load_settings().aws_region
    resources = {API: lambda: alloy_api_resource(settings, region)}
    return build_source(alloy_source(datasets, resources), monitoring)


def alloy_datasets() -> list[AlloyDataset]:
    """The shipped AQS files, or the folder ``LBH_ALLOY_DATASETS_DIR`` names."""
    return load_datasets(Path(registry.get("LBH_ALLOY_DATASETS_DIR") or DEFAULT_DATASETS_DIR))


def source_specs() -> list[SourceSpec]:
    """The spec as configured (resources unmade): for tools that walk every source's assets."""
    return [alloy_source(alloy_datasets(), {})]


@dg.definitions
def defs() -> dg.Definitions:
    return build_alloy_definitions(alloy_datasets())
