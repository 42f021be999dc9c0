"""Cross-source monitoring: freshness and volume checks from configuration, and the alert
sensors. Each source's ``definitions.py`` calls the check factories for its own assets."""

from collections.abc import Mapping, Sequence

import dagster as dg

from lbh_platform.common.monitoring_config import MonitoringConfig, load_monitoring_config
from lbh_platform.lib.monitoring.freshness import build_freshness
from lbh_platform.lib.monitoring.volume import build_volume_checks


def with_monitoring(
    source: str,
    definitions: dg.Definitions,
    *,
    deadlines: Mapping[dg.AssetKey, str],
    volumes: Sequence[tuple[dg.AssetKey, dg.PartitionsDefinition]] = (),
    monitoring: MonitoringConfig | None = None,
) -> dg.Definitions:
    """``definitions`` plus the freshness checks (``deadlines``: published asset -> cadence)
    with their sensor, and a stand-alone volume check for each of ``volumes`` (assets whose
    source has no check step to carry one: see ``volume_check``): one call per source."""
    monitoring = monitoring or load_monitoring_config()
    freshness, sensors = build_freshness(source, dict(deadlines), monitoring)
    volume = build_volume_checks(list(volumes), monitoring)
    return dg.Definitions.merge(
        definitions, dg.Definitions(asset_checks=[*freshness, *volume], sensors=sensors)
    )
