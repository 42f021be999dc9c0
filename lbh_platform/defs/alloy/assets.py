"""Asset factory: one AQS query file becomes an export asset and a snapshot per output table."""

from collections.abc import Iterator

import dagster as dg

from lbh_platform.alloy import stages
from lbh_platform.alloy.datasets import AlloyDataset
from lbh_platform.common.deletion_guard import CONFIRM_TAG
from lbh_platform.defs.common import OWNERS, downstream_condition, run_partitions
from lbh_platform.defs.partitions import daily_partitions
from lbh_platform.defs.resources import AlloyApiResource, LakeResource

GROUP = "alloy"


def asset_key(stage: str, dataset: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["alloy", stage, dataset, table])


def build_dataset_assets(dataset: AlloyDataset) -> list[dg.AssetsDefinition]:
    common = dict(
        partitions_def=daily_partitions,
        group_name=GROUP,
        owners=OWNERS,
        kinds={"python", "parquet"},
        tags={"source": "alloy", "mode": dataset.mode},
    )
    joined = set(dataset.joined_designs)
    specs = [
        dg.AssetSpec(
            asset_key("api_response", dataset.name, table),
            description=(
                f"Alloy `{dataset.name}` export, {'joined design' if table in joined else 'root'}"
                f" table `{table}`: the day's CSV as parquet with cleaned column names and "
                f"import columns ({dataset.mode} export)."
            ),
            group_name=GROUP,
            owners=OWNERS,
            kinds={"python", "parquet"},
            tags={"source": "alloy", "mode": dataset.mode},
        )
        for table in dataset.tables
    ]

    @dg.multi_asset(
        name=f"alloy_export_{dataset.name}",
        specs=specs,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=f"alloy_{dataset.name}",
    )
    def export(
        context: dg.AssetExecutionContext, lake: LakeResource, alloy_api: AlloyApiResource
    ) -> Iterator[dg.MaterializeResult]:
        store = lake.lake()
        yield from run_partitions(
            context, lambda day: stages.export(store, dataset, day, alloy_api.export)
        )

    snapshots = [_snapshot_asset(dataset, table, common) for table in dataset.tables]
    return [export, *snapshots]


def _snapshot_asset(dataset: AlloyDataset, table: str, common: dict) -> dg.AssetsDefinition:
    how = (
        "the day's full export (items gone from it are reported as deletions)"
        if dataset.mode == "full"
        else "the previous snapshot upserted with every export since, latest import wins"
    )
    deps = [asset_key("api_response", dataset.name, table)]
    if table != dataset.name:  # a root item exported keeps exactly that export's links
        deps.append(asset_key("api_response", dataset.name, dataset.name))

    @dg.asset(
        key=asset_key("snapshot", dataset.name, table),
        deps=deps,
        description=f"Alloy `{dataset.name}` `{table}` as of the snapshot date: {how}; "
        "column renames applied.",
        automation_condition=downstream_condition(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=f"alloy_{dataset.name}",
        **common,
    )
    def snapshot(
        context: dg.AssetExecutionContext, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult]:
        store = lake.lake()
        confirmed = context.run.tags.get(CONFIRM_TAG, "").lower() == "true"
        yield from run_partitions(
            context,
            lambda day: [stages.snapshot(store, dataset, table, day, confirm_deletions=confirmed)],
        )

    return snapshot
