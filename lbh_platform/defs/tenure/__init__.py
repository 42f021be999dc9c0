"""Tenure wiring: ``build_tenure_definitions()`` returns everything the platform's
definitions need (the shared ``lake`` resource is provided there)."""

import os
from collections.abc import Mapping
from typing import Any

from lbh_platform.defs.engine import build_engine_resources
from lbh_platform.defs.tenure.assets import build_tenure_assets
from lbh_platform.defs.tenure.automation import build_tenure_automation
from lbh_platform.defs.tenure.checks import build_tenure_checks
from lbh_platform.defs.tenure.resources import TenureDynamoResource, tenure_dynamo_from_env

__all__ = ["TenureDynamoResource", "build_tenure_definitions"]


def build_tenure_definitions(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Assets, checks, sensors, jobs, schedules and the ``tenure_dynamo`` resource (configured
    from the environment at load time) plus the ``engine`` resources; needs ``lake`` beside it."""
    jobs, sensors, schedules = build_tenure_automation()
    return {
        "assets": build_tenure_assets(),
        "asset_checks": build_tenure_checks(),
        "sensors": sensors,
        "jobs": jobs,
        "schedules": schedules,
        "resources": {
            **build_engine_resources(),
            "tenure_dynamo": tenure_dynamo_from_env(os.environ if environ is None else environ),
        },
    }
