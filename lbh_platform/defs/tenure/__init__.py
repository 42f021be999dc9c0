"""Tenure wiring: :func:`build_tenure_definitions` returns Tenure's own ``dg.Definitions``."""

from lbh_platform.defs.tenure.definitions import build_tenure_definitions, load_tenure_definitions
from lbh_platform.defs.tenure.resources import TenureDynamoResource

__all__ = ["TenureDynamoResource", "build_tenure_definitions", "load_tenure_definitions"]
