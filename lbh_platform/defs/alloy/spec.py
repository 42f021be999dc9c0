"""Alloy as a source spec: per AQS query file (a dataset), one export step publishing every
output table's ``api_response`` and a ``snapshot`` per table; exports run at 04:00 on
weekdays, snapshots follow by automation."""

from datetime import date

from lbh_platform.alloy import housekeeping, stages
from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.alloy.history import catalog_name as history_catalog_name
from lbh_platform.alloy.history import describe_history_location, history_of
from lbh_platform.alloy.locations import alloy_table, catalog_name, describe_location
from lbh_platform.common.deletion_guard import CONFIRM_TAG
from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.common.stage_report import StageReport
from lbh_platform.history import from_snapshots
from lbh_platform.history import stage as history_stage
from lbh_platform.lib.spec import (
    Asset,
    Check,
    Housekeeping,
    Job,
    Schedule,
    SourceSpec,
    Step,
    StepContext,
    Unit,
)
from lbh_platform.lib.spec import ref as asset_ref

NAME = "alloy"
API = "alloy_api"
EXPORT_JOB = "alloy_weekday_export"
PIPELINE_JOB = "alloy_pipeline"


def _export_asset(dataset: AlloyDataset, table: str) -> Asset:
    root = stages.is_root(dataset, table)
    checks = ()
    if root:
        checks = (
            Check(
                "row_count_matches_task",
                "The exported CSV has as many rows as the export task reported (when it "
                "reports one).",
                lambda lake, v: stages.export_count_outcome(lake, dataset, v),
                error=False,
            ),
            Check(
                "item_ids_unique_in_export",
                "Each Item ID appears once in the exported CSV (a repeat is resolved to the "
                "item's newest edit in the snapshot, and counted here).",
                lambda lake, v: stages.export_ids_outcome(lake, dataset, v),
                error=False,
            ),
        )
    return Asset(
        "api_response",
        f"Alloy `{dataset.name}` export, {'root' if root else 'joined design'} table `{table}`: "
        f"the day's CSV as parquet with cleaned column names and import columns "
        f"({dataset.mode} export).",
        describe_location("api_response", dataset.name, table),
        checks=checks,
        table=table,
        label=_label(dataset, table),
        volume=True,
        personal=dataset.personal(table, "api_response"),
        catalog=catalog_name("api_response", dataset.name, table),
    )


def _label(dataset: AlloyDataset, table: str) -> str:
    """The node's name: the dataset's own table by the dataset, a joined one with it."""
    return table if stages.is_root(dataset, table) else f"{dataset.name}_{table}"


def _snapshot_asset(dataset: AlloyDataset, table: str) -> Asset:
    how = (
        "the day's full export (items gone from it are reported as deletions)"
        if dataset.mode == "full"
        else "the previous snapshot upserted with every export since, latest import wins"
    )
    keys = stages.key_columns(dataset, table)
    deps = [asset_ref("api_response", table)]
    if not stages.is_root(dataset, table):  # a root item exported keeps exactly its links
        deps.append(asset_ref("api_response", dataset.name))
    return Asset(
        "snapshot",
        f"Alloy `{dataset.name}` `{table}` as of the snapshot date: {how}; column renames applied.",
        describe_location("snapshot", dataset.name, table),
        checks=(
            Check(
                "key_unique_and_complete",
                f"{', '.join(keys)} unique and never null.",
                lambda lake, v: stages.key_outcome(
                    alloy_table(lake, "snapshot", dataset.name, table).read(v, columns=keys),
                    keys,
                ),
            ),
            Check(
                "inputs_applied",
                "Every export since the base snapshot is applied, each as it is now, on a base "
                "that is itself current. Blocking: a snapshot missing one is wrong.",
                lambda lake, v: stages.inputs_outcome(lake, dataset, table, v),
                blocking=True,
            ),
        ),
        deps=tuple(deps),
        eager=True,
        table=table,
        label=_label(dataset, table),
        freshness=True,
        personal=dataset.personal(table, "snapshot"),
        catalog=catalog_name("snapshot", dataset.name, table),
    )


def _history_asset(dataset: AlloyDataset, table: str) -> Asset:
    keys = ", ".join(f"`{k}`" for k in stages.key_columns(dataset, table))
    full = dataset.mode == "full"
    return history_stage.history_asset(
        f"alloy {dataset.name}/{table}",
        keys,
        "snapshots' changes (rows new or different since the snapshot before, and keys gone "
        "from it" + (": a full export's import columns alone are not a change)" if full else ")"),
        describe_history_location(dataset.name, table),
        lambda lake, v: from_snapshots.behind(history_of(lake, dataset, table), v),
        deps=(asset_ref("snapshot", table),),
        table=table,
        label=_label(dataset, table),
        personal=dataset.personal(table, "snapshot"),
        catalog=history_catalog_name(dataset.name, table),
    )


def _unit(dataset: AlloyDataset) -> Unit:
    def export(ctx: StepContext, day: date) -> list[StageReport]:
        return stages.export(ctx.lake, dataset, day, ctx.resources[API].export)

    def snapshot_of(table: str):
        def snapshot(ctx: StepContext, day: date) -> list[StageReport]:
            confirmed = ctx.tags.get(CONFIRM_TAG, "").lower() == "true"
            return [stages.snapshot(ctx.lake, dataset, table, day, confirm_deletions=confirmed)]

        return snapshot

    def history_of_table(table: str):
        def history(ctx: StepContext, day: date) -> list[StageReport]:
            source = history_of(ctx.lake, dataset, table)
            return [from_snapshots.update(source, yyyymmdd(day), ctx.engine)]

        return history

    name = dataset.name
    return Unit(
        name=name,
        path=(name,),
        label=name,
        pool=f"alloy_{name}",
        tags={"mode": dataset.mode},
        freshness="weekdays",
        steps=(
            Step(
                f"alloy_{name}_export",
                tuple(_export_asset(dataset, t) for t in dataset.tables),
                export,
                resources=(API,),
            ),
            *(
                Step(f"alloy_{name}_{t}_snapshot", (_snapshot_asset(dataset, t),), snapshot_of(t))
                for t in dataset.tables
            ),
            *(
                Step(
                    f"alloy_{name}_{t}_history", (_history_asset(dataset, t),), history_of_table(t)
                )
                for t in dataset.tables
            ),
        ),
    )


JOBS = (
    Job(
        EXPORT_JOB,
        "Request every Alloy dataset's export (all its output tables).",
        ("api_response",),
    ),
    Job(
        PIPELINE_JOB,
        "Every Alloy export and snapshot, with their checks (manual runs, make run).",
        (),
    ),
)
SCHEDULES = (
    Schedule(
        "alloy_weekdays_0400",
        EXPORT_JOB,
        "0 4 * * 1-5",
        "Alloy exports at 04:00 on weekdays, for that day's partition.",
    ),
)


def alloy_source(datasets: list[AlloyDataset], resources: dict) -> SourceSpec:
    """Adding an AQS file adds all of this, with the weekday freshness check of each snapshot
    and the volume check of each export table."""
    return SourceSpec(
        name=NAME,
        group=NAME,
        units=tuple(_unit(d) for d in datasets),
        jobs=JOBS,
        schedules=SCHEDULES,
        resources=resources,
        housekeeping=Housekeeping(
            housekeeping.SOURCE,
            tuple(d.name for d in datasets),
            lambda lake: housekeeping.snapshot_tables(lake, datasets),
            lambda lake, name, path: housekeeping.alloy_targets(lake, datasets, name, path),
        ),
    )
