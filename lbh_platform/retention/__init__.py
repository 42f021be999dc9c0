"""Snapshot retention: which partitions a table keeps (policy, config, guards) and removing
the rest from the store and every catalogue (apply). Pure and source-agnostic: the caller
passes the table, its snapshot values and its lineage."""

from lbh_platform.retention.apply import RetentionResult, apply_retention, removed_partitions
from lbh_platform.retention.config import RetentionConfig, load_retention, parse_retention
from lbh_platform.retention.guards import lineage_guard, recorded_base_guard
from lbh_platform.retention.policy import (
    Decision,
    RetentionPlan,
    RetentionPolicy,
    missing_snapshots,
    plan_retention,
)

__all__ = [
    "Decision",
    "RetentionConfig",
    "RetentionPlan",
    "RetentionPolicy",
    "RetentionResult",
    "apply_retention",
    "lineage_guard",
    "load_retention",
    "missing_snapshots",
    "parse_retention",
    "plan_retention",
    "recorded_base_guard",
    "removed_partitions",
]
