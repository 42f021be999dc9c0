"""Tascomi as a source spec: per configured table, the four stages ``api_response`` →
``parsed`` → ``increment`` → ``snapshot`` with their checks; the 03:00 ingestion jobs and
schedules (daily, and Sunday for the static tables). Only the first stage is scheduled; each
later one runs as soon as its upstream lands and passes its blocking checks."""

import functools
from collections.abc import Callable
from datetime import date

from lbh_platform.catalog.base import table_name
from lbh_platform.common.import_columns import yyyymmdd
from lbh_platform.common.stage_report import StageReport
from lbh_platform.erasure.personal import PersonalData
from lbh_platform.history import maintain
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
    stage_path,
)
from lbh_platform.tascomi import housekeeping, quality, stages
from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
from lbh_platform.tascomi.history import describe_history_location, history_source
from lbh_platform.tascomi.locations import catalog_name, describe_location
from lbh_platform.tascomi.tables import TascomiTable

NAME = "tascomi"
API = "tascomi_api"
DAILY_INGEST_JOB = "tascomi_daily_ingest"
DAILY_PIPELINE_JOB = "tascomi_daily_pipeline"
WEEKLY_INGEST_JOB = "tascomi_weekly_static_ingest"
WEEKLY_PIPELINE_JOB = "tascomi_weekly_static_pipeline"

DESCRIPTIONS = {
    "api_response": (
        "Raw Tascomi `{t}` records, one row per record as JSON text plus import metadata. "
        "Partition D holds every record version first seen by the import of D: last updated "
        "from the previous import date up to the run on D (a full load when there is no "
        "earlier import), without the versions the previous import already holds."
    ),
    "parsed": (
        "Tascomi `{t}` with every JSON key as a nullable string column (status-200 rows only)."
    ),
    "increment": (
        "Tascomi `{t}` recast to typed columns by the column-type catalogue; values that "
        "cannot be cast are null and counted. The same versions as api_response: each "
        "version is in one import date's increment."
    ),
    "snapshot": (
        "Full Tascomi `{t}` table as of the snapshot date: the previous snapshot with every "
        "increment since applied by `{id}`. Query the newest `snapshot_date` for current data."
    ),
}


def _checks(table: TascomiTable, types: dict[str, str]) -> dict[str, tuple[Check, ...]]:
    """The table's data-quality rules per stage (replacing the original's PyDeequ runs)."""
    id_col, complete = table.id_column, table.completeness_column
    return {
        "parsed": (
            Check(
                "id_import_date_unique",
                f"({id_col}, import_date) is unique. Blocking: a failure stops increment and "
                "snapshot.",
                lambda lake, v: quality.parsed_unique_outcome(lake, table, v),
                blocking=True,
            ),
            Check(
                f"{complete}_complete",
                f"{complete} is at least 99% non-null.",
                lambda lake, v: quality.parsed_complete_outcome(lake, table, v),
                error=False,
            ),
        ),
        "increment": (
            Check(
                f"{id_col}_survives_cast",
                f"Every {id_col} is kept as itself by the catalogue's cast (none merged with "
                "another or nulled). Blocking: such an increment would lose or merge records in "
                "the snapshot.",
                lambda lake, v: stages.lost_ids_outcome(lake, table, v),
                blocking=True,
            ),
            Check(
                "no_cast_failures",
                "Every catalogue value could be cast (failures are null and counted).",
                lambda lake, v: quality.cast_outcome(lake, table, v),
                error=False,
            ),
            Check(
                "catalogue_drift",
                "No catalogue column is missing and no column is new since the previous increment.",
                lambda lake, v: quality.drift_outcome(lake, table, v, types),
                error=False,
            ),
            Check(
                "column_types_match_catalogue",
                "Pandera: every catalogue column present has its catalogue type.",
                lambda lake, v: quality.types_outcome(lake, table, v, types),
            ),
        ),
        "snapshot": (
            Check(
                f"{id_col}_unique",
                f"{id_col} is unique in the snapshot.",
                lambda lake, v: quality.snapshot_unique_outcome(lake, table, v),
            ),
            Check(
                "inputs_applied",
                "Every import between the base snapshot and this one is applied, each as it is "
                "now, on a base that is itself current. Blocking: a snapshot missing an import "
                "is wrong.",
                lambda lake, v: stages.inputs_outcome(lake, table, v),
                blocking=True,
            ),
        ),
    }


def _unit(
    table: TascomiTable,
    column_types: dict[str, str],
    personal: Callable[[str], PersonalData] = lambda stage: PersonalData(),
) -> Unit:
    types = column_types if table.recast else {}
    checks = _checks(table, types)

    def asset(stage: str, deps: tuple[str, ...] = (), **extra) -> Asset:
        return Asset(
            stage,
            DESCRIPTIONS[stage].format(t=table.name, id=table.id_column),
            describe_location(stage, table.name),
            checks=checks.get(stage, ()),
            deps=deps,
            eager=bool(deps),
            personal=personal(stage),
            catalog=catalog_name(stage, table.name),
            **extra,
        )

    history_asset = history_stage.history_asset(
        f"tascomi {table.name}",
        f"`{table.id_column}`",
        "increments at the cost of the day's changes",
        describe_history_location(table.name),
        lambda lake, v: maintain.behind(history_source(lake, table.name, table.id_column), v),
        deps=("snapshot",),
        personal=personal("snapshot"),  # the history holds the snapshot's columns
        catalog=table_name("history", table.name),
    )

    def ingest(ctx: StepContext, day: date) -> list[StageReport]:
        return [stages.ingest(ctx.lake, table, day, ctx.resources[API].fetch)]

    def parse(ctx: StepContext, day: date) -> list[StageReport]:
        return [stages.parse(ctx.lake, table, day, ctx.engine)]

    def refine(ctx: StepContext, day: date) -> list[StageReport]:
        report = stages.refine(ctx.lake, table, day, column_types, ctx.engine)
        failures = report.metadata["cast_failures_total"]
        if failures:
            ctx.log.warning(
                f"{table.name} {report.partition}: {failures} values could not be cast and are "
                f"null: {report.metadata['cast_failures_by_column']}"
            )
        return [report]

    def snapshot(ctx: StepContext, day: date) -> list[StageReport]:
        return [stages.snapshot(ctx.lake, table, day, ctx.engine)]

    def history(ctx: StepContext, day: date) -> list[StageReport]:
        source = history_source(ctx.lake, table.name, table.id_column)
        return [maintain.update(source, yyyymmdd(day), ctx.engine)]

    name = table.name
    return Unit(
        name=name,
        path=(),
        label=name,
        cadence=table.cadence,
        pool=f"tascomi_{name}",
        tags={"cadence": table.cadence},
        freshness=table.cadence,
        steps=(
            Step(
                f"tascomi_{name}_api_response",
                (asset("api_response", volume=True),),
                ingest,
                resources=(API,),
            ),
            Step(f"tascomi_{name}_parsed", (asset("parsed", ("api_response",)),), parse),
            Step(
                f"tascomi_{name}_increment",
                (asset("increment", ("parsed",), volume=True),),
                refine,
            ),
            Step(
                f"tascomi_{name}_snapshot",
                (asset("snapshot", ("increment",), freshness=True),),
                snapshot,
            ),
            Step(f"tascomi_{name}_history", (history_asset,), history),
        ),
    )


def _cadence(cadence: str):
    return lambda unit: unit.tags.get("cadence") == cadence


JOBS = (
    Job(
        DAILY_INGEST_JOB,
        "Fetch the Tascomi increments of every daily table.",
        ("api_response",),
        _cadence("daily"),
        # Re-running api_response replaces its partitions exactly, so a failed run (an API
        # outage, a lost worker) is retried by the daemon where run_retries is enabled.
        tags={"dagster/max_retries": "2", "dagster/retry_strategy": "ALL_STEPS"},
    ),
    Job(
        DAILY_PIPELINE_JOB,
        "All four stages of every daily Tascomi table, with their checks.",
        (),
        _cadence("daily"),
    ),
    Job(
        WEEKLY_INGEST_JOB,
        "Fetch the Tascomi increments of every weekly table.",
        ("api_response",),
        _cadence("weekly"),
        tags={"dagster/max_retries": "2", "dagster/retry_strategy": "ALL_STEPS"},
    ),
    Job(
        WEEKLY_PIPELINE_JOB,
        "All four stages of every weekly Tascomi table, with their checks.",
        (),
        _cadence("weekly"),
    ),
)
SCHEDULES = (
    Schedule(
        "tascomi_daily_0300",
        DAILY_INGEST_JOB,
        "0 3 * * *",
        "The daily tables' imports at 03:00 (London), for that day's partition.",
    ),
    Schedule(
        "tascomi_weekly_static_sunday_0300",
        WEEKLY_INGEST_JOB,
        "0 3 * * 0",
        "The static lookup tables' imports on Sundays at 03:00, for that week's partition.",
    ),
)


def tascomi_source(
    tables: list[TascomiTable],
    catalogue: ColumnTypeCatalogue,
    resources: dict,
) -> SourceSpec:
    """Adding a table to the list adds all of this (its freshness and volume checks too)."""
    return SourceSpec(
        name=NAME,
        group=NAME,
        units=tuple(
            _unit(t, catalogue.columns(t.name), functools.partial(catalogue.personal, t.name))
            for t in tables
        ),
        jobs=JOBS,
        schedules=SCHEDULES,
        resources=resources,
        housekeeping=Housekeeping(
            housekeeping.SOURCE,
            tuple(t.name for t in tables),
            lambda lake: housekeeping.snapshot_tables(lake, tables),
            lambda lake, table, path: housekeeping.tascomi_targets(lake, table, path or "id"),
        ),
    )


def stage_key(table: str, stage: str) -> tuple[str, ...]:
    """The asset key of a table's stage (by the one rule, :func:`asset_path`), for tools and
    benchmarks that select assets by table."""
    return stage_path(NAME, _unit(TascomiTable(name=table), {}), stage)
