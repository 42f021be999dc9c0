"""Wiring shared by every pipeline's asset factory: partition loops and metadata."""

from collections.abc import Callable, Iterator
from datetime import date, datetime

import dagster as dg

from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.common.quality import RuleOutcome
from lbh_platform.common.stage_report import StageReport
from lbh_platform.storage.lake import Lake

OWNERS = ["team:data-platform"]


def partition_day(key: str) -> date:
    return datetime.strptime(key, "%Y-%m-%d").date()


def to_metadata(report: StageReport) -> dict[str, object]:
    metadata: dict[str, object] = {"dagster/row_count": report.rows, "partition": report.partition}
    for name, value in report.metadata.items():
        if name == "path":
            metadata[name] = dg.MetadataValue.path(value)
        elif isinstance(value, dict | list):
            metadata[name] = dg.MetadataValue.json(value)
        else:
            metadata[name] = value
    return metadata


def run_partitions(
    context: dg.AssetExecutionContext, build: Callable[[date], list[StageReport]]
) -> Iterator[dg.MaterializeResult]:
    """Build every partition of the run in date order (a backfill range is one run).

    ``build`` returns one report per asset it published; a single-partition run reports each
    asset's full metadata, a range reports rows per partition.
    """
    keys = list(context.partition_keys)
    by_asset: dict[tuple[str, ...], list[StageReport]] = {}
    for position, key in enumerate(keys, start=1):
        for report in build(partition_day(key)):
            by_asset.setdefault(report.key, []).append(report)
            context.log.info(
                f"{report.label} {report.partition} ({position}/{len(keys)}): {report.rows} rows"
            )
    for asset_path, reports in by_asset.items():
        if len(reports) == 1:
            metadata = to_metadata(reports[0])
        else:
            metadata = {
                "partitions_built": len(reports),
                "rows_by_partition": dg.MetadataValue.json({r.partition: r.rows for r in reports}),
                "dagster/row_count": reports[-1].rows,
            }
        yield dg.MaterializeResult(asset_key=dg.AssetKey(list(asset_path)), metadata=metadata)


def downstream_condition() -> dg.AutomationCondition:
    """Run as soon as the upstream partition lands and its blocking checks passed."""
    return (
        dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("eager, after blocking checks")


Rule = Callable[[Lake, str], RuleOutcome]


def evaluate_partitions(
    context: dg.AssetCheckExecutionContext,
    lake: Lake,
    rules: list[tuple[dg.AssetCheckSpec, dg.AssetCheckSeverity, Rule]],
) -> Iterator[dg.AssetCheckResult | dg.AssetCheckEvaluation | dg.Output]:
    """Evaluate each rule for every partition of the run (``YYYYMMDD`` values).

    A single partition yields ordinary check results. A range (a one-run backfill) yields
    one evaluation per partition, so results still show per partition, then the outputs the
    check op owes Dagster.
    """
    keys = list(context.partition_keys)
    for key in keys:
        value = yyyymmdd(partition_day(key))
        for spec, severity, rule in rules:
            outcome = rule(lake, value)
            fields = dict(
                asset_key=spec.asset_key,
                check_name=spec.name,
                passed=outcome.passed,
                severity=severity,
                description=outcome.description,
                metadata={"partition": value, **outcome.metadata},
            )
            if len(keys) == 1:
                yield dg.AssetCheckResult(**fields)
            else:
                yield dg.AssetCheckEvaluation(**fields, partition=key, blocking=spec.blocking)
    if len(keys) > 1:
        assets_def = context.op_execution_context.assets_def
        for spec, _, _ in rules:
            yield dg.Output(
                None, output_name=assets_def.get_output_name_for_asset_check_key(spec.key)
            )
