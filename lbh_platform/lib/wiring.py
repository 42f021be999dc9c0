"""Wiring shared by every pipeline's asset factory: partition loops and metadata."""

from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,  # no public alias in 1.13
)

from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.common.quality import RuleOutcome
from lbh_platform.common.stage_report import StageReport
from lbh_platform.lib.resources import LakeResource
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


def downstream_condition() -> dg.AutomationCondition:
    """Run as soon as the upstream partition lands and its blocking checks passed."""
    return (
        dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("eager, after blocking checks")


Rule = Callable[[Lake, str], RuleOutcome]
PartitionRule = Callable[[str], RuleOutcome]
"""A rule over one partition key (``YYYY-MM-DD``), for checks that read Dagster's records."""


def _target_materializations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partitions: list[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """Each partition's latest materialisation: what the check evaluated. Without it the UI
    treats a logged evaluation as stale and shows the partition's check as *Missing*.

    Newest first, a page at a time, until every partition is found: after a ranged run that
    is one query for the range, not one per partition.
    """
    wanted, found = set(partitions), {}
    cursor = None
    while wanted - found.keys():
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partitions),
            limit=max(100, len(partitions)),
            cursor=cursor,
        )
        for record in page.records:
            if record.partition_key in wanted and record.partition_key not in found:
                found[record.partition_key] = AssetCheckEvaluationTargetMaterializationData(
                    storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
                )
        if not page.has_more:
            break
        cursor = page.cursor
    return found


def evaluate_partition_rules(
    context: dg.AssetCheckExecutionContext,
    rules: list[tuple[dg.AssetCheckSpec, dg.AssetCheckSeverity, PartitionRule]],
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """Evaluate each rule for every partition of the run.

    Every result names its partition and points at that partition's materialisation, so the
    check's Partitions tab shows each day as passed or failed whatever tags the run has: a
    plain ``AssetCheckResult`` takes its partition from ``dagster/partition`` only, and a
    one-day backfill's run carries a range tag instead. Then the outputs the check op owes
    Dagster.
    """
    keys = list(context.partition_keys)
    targets = {
        asset_key: _target_materializations(context.instance, asset_key, keys)
        for asset_key in {spec.asset_key for spec, _, _ in rules}
    }
    for key in keys:
        for spec, severity, rule in rules:
            outcome = rule(key)
            yield dg.AssetCheckEvaluation(
                asset_key=spec.asset_key,
                check_name=spec.name,
                passed=outcome.passed,
                severity=severity,
                description=outcome.description,
                metadata={"partition": yyyymmdd(partition_day(key)), **outcome.metadata},
                partition=key,
                blocking=spec.blocking,
                target_materialization_data=targets[spec.asset_key].get(key),
            )
    assets_def = context.op_execution_context.assets_def
    for spec, _, _ in rules:
        yield dg.Output(None, output_name=assets_def.get_output_name_for_asset_check_key(spec.key))


LakeCheck = tuple[dg.AssetCheckSpec, dg.AssetCheckSeverity, Rule]
RecordCheck = tuple[
    dg.AssetCheckSpec, dg.AssetCheckSeverity, Callable[[dg.DagsterInstance], PartitionRule]
]
"""A check over Dagster's own records (the volume check's row-count history): its rule is
made from the instance when the check step runs."""


def partition_checks(
    name: str,
    rules: list[LakeCheck],
    *,
    record_checks: Sequence[RecordCheck] = (),
    can_subset: bool = False,
) -> dg.AssetChecksDefinition:
    """One stand-alone partitioned multi-asset check running ``rules`` (spec, severity, rule
    over the lake) for every partition of its run: the one shape every source's checks take.

    ``record_checks`` ride in the same step (every check step costs Dagster events and
    storage writes of its own): a stage's volume check joins its quality checks, and the raw
    stage's joins the next stage's. Such a step can be subset, so a run of the upstream
    asset alone still evaluates the checks that target it.
    """
    specs = [spec for spec, _, _ in (*rules, *record_checks)]

    @dg.multi_asset_check(specs=specs, name=name, can_subset=can_subset or bool(record_checks))
    def checks(context: dg.AssetCheckExecutionContext, lake: LakeResource):
        selected = context.selected_asset_check_keys
        store = lake.lake()

        def over_lake(rule: Rule) -> PartitionRule:
            return lambda key: rule(store, yyyymmdd(partition_day(key)))

        chosen = [
            *((spec, sev, over_lake(rule)) for spec, sev, rule in rules if spec.key in selected),
            *(
                (spec, sev, make(context.instance))
                for spec, sev, make in record_checks
                if spec.key in selected
            ),
        ]
        yield from evaluate_partition_rules(context, chosen)

    return checks
