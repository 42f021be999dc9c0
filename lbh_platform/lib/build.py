"""The one builder: a :class:`~lbh_platform.lib.spec.SourceSpec` becomes Dagster definitions —
a multi-asset per step, a partitioned check step per step, jobs, schedules, sensors,
freshness and volume checks, and the source's resources. No source is named here."""

from collections.abc import Iterator
from datetime import datetime

import dagster as dg
import pyarrow as pa

from lbh_platform.common.lineage import partition_key
from lbh_platform.common.monitoring_config import MonitoringConfig, load_monitoring_config
from lbh_platform.common.stage_report import StageReport
from lbh_platform.erasure.column_schema import column_schema
from lbh_platform.lib.automation_defaults import schedule_status, sensor_status
from lbh_platform.lib.monitoring import with_monitoring
from lbh_platform.lib.monitoring.volume import volume_check
from lbh_platform.lib.partitions import TIMEZONE, partitions_for
from lbh_platform.lib.resources import LakeResource
from lbh_platform.lib.spec import (
    Asset,
    Schedule,
    Sensor,
    SourceSpec,
    Step,
    StepContext,
    Unit,
    asset_path,
    asset_ref,
    report_ref,
    unit_prefix,
)
from lbh_platform.lib.wiring import (
    OWNERS,
    LakeCheck,
    RecordCheck,
    downstream_condition,
    partition_checks,
    partition_day,
    to_metadata,
)
from lbh_platform.storage.partitioned_table import read_schema

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


class _Keys:
    """Every asset key of a source, made by :func:`asset_path` and nowhere else."""

    def __init__(self, spec: SourceSpec):
        self.spec = spec
        self.by_ref: dict[tuple[str, str], dg.AssetKey] = {}
        for unit in spec.units:
            for asset in unit.assets:
                path = asset_path(spec.name, unit, asset)
                self.by_ref[(unit.name, asset_ref(asset))] = dg.AssetKey(list(path))

    def of(self, unit: Unit, ref: str) -> dg.AssetKey:
        try:
            return self.by_ref[(unit.name, ref)]
        except KeyError:
            raise KeyError(f"{self.spec.name} {unit.name}: no asset {ref!r}") from None


def _run_partitions(
    context: dg.AssetExecutionContext, unit: Unit, keys: _Keys, build
) -> Iterator[dg.MaterializeResult]:
    """Build every partition of the run in date order (a backfill range is one run).

    Each report becomes that partition's own materialisation metadata, so a ranged run
    records every day as a one-day run does. A report of an asset or day the step does not
    own (an events partition a snapshot compacted first) is logged as a materialisation of
    its own.
    """
    own = set(context.selected_asset_keys)
    days = list(context.partition_keys)
    partitions = context.assets_def.partitions_def
    built: list[dg.AssetKey] = []
    for position, day in enumerate(days, start=1):
        for report in build(partition_day(day)):
            key = keys.of(unit, report_ref(report))
            partition = partition_key(report.partition)
            if key not in own or partition not in days:
                _log_side_report(context, key, partition, report, partitions)
                continue
            if key not in built:
                built.append(key)
            metadata = to_metadata(report)
            schema = _column_schema(context, unit, report)
            if schema is not None:
                metadata["dagster/column_schema"] = schema
            context.add_asset_metadata(metadata, asset_key=key, partition_key=day)
            # One line a day: a backfill's progress (and its date order) is readable in the
            # run's log, at the cost of one stored event a day.
            context.log.info(
                f"{key.to_user_string()} {report.partition} ({position}/{len(days)}): "
                f"{report.rows} rows"
            )
    for key in built:
        yield dg.MaterializeResult(asset_key=key)


def _column_schema(
    context: dg.AssetExecutionContext, unit: Unit, report: StageReport
) -> dg.TableSchema | None:
    """The published file's columns with their types, a ``pii`` tag on each declared personal
    column and which nested fields are personal: what an analyst sees before querying. Read
    from the written file's footer; a file that cannot be read only costs the schema."""
    path = report.metadata.get("path")
    if not path:
        return None
    asset = next((a for a in unit.assets if asset_ref(a) == report_ref(report)), None)
    try:
        schema = read_schema(str(path))
    except (OSError, ValueError, pa.ArrowException) as error:
        context.log.warning(f"{report.label} {report.partition}: no column schema ({error})")
        return None
    columns = column_schema(schema, asset.personal if asset else None)
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, c.type, description=c.description or None, tags=c.tags)
            for c in columns
        ]
    )


def _log_side_report(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    partition: str,
    report: StageReport,
    partitions: dg.PartitionsDefinition | None,
) -> None:
    if partitions is not None and not partitions.has_partition_key(partition):
        context.log.warning(f"{key.to_user_string()} {report.partition}: not a partition")
        return
    context.log.warning(
        f"{key.to_user_string()} {report.partition} materialised by this step first "
        f"({report.rows} rows)"
    )
    context.log_event(
        dg.AssetMaterialization(asset_key=key, partition=partition, metadata=to_metadata(report))
    )


def _condition(unit: Unit, asset: Asset, keys: _Keys) -> dg.AutomationCondition | None:
    if not asset.eager:
        return None
    condition = downstream_condition()
    ignored = [keys.of(unit, r) for r in asset.eager_ignores]
    return condition.ignore(dg.AssetSelection.assets(*ignored)) if ignored else condition


def _asset_spec(spec: SourceSpec, unit: Unit, asset: Asset, keys: _Keys) -> dg.AssetSpec:
    return dg.AssetSpec(
        keys.of(unit, asset_ref(asset)),
        description=asset.description,
        deps=[keys.of(unit, d) for d in asset.deps],
        group_name=spec.group,
        owners=OWNERS,
        kinds=set(asset.kinds),
        tags={"source": spec.name, **unit.tags},
        metadata={"location": asset.location},
        automation_condition=_condition(unit, asset, keys),
    )


def _step_assets(spec: SourceSpec, unit: Unit, step: Step, keys: _Keys) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=step.name,
        specs=[_asset_spec(spec, unit, a, keys) for a in step.assets],
        partitions_def=partitions_for(unit.cadence),
        # A backfill range is one run that builds its days in order, not one run per day.
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=unit.pool or None,
        can_subset=len(step.assets) > 1,
        required_resource_keys={"lake", "engine", *step.resources},
    )
    def run_step(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        lake = context.resources.lake.lake()
        lake.declare_personal(
            {a.catalog: a.personal for a in step.assets if a.catalog and a.personal}
        )
        step_context = StepContext(
            lake=lake,
            make_engine=context.resources.engine.get,
            resources={name: getattr(context.resources, name) for name in step.resources},
            tags=dict(context.run.tags),
            log=context.log,
        )
        yield from _run_partitions(context, unit, keys, lambda day: step.run(step_context, day))

    return run_step


def _check_steps(
    spec: SourceSpec, unit: Unit, keys: _Keys, monitoring: MonitoringConfig
) -> list[dg.AssetChecksDefinition]:
    """One check step per stage of the unit that has checks (every step costs Dagster
    events); a volume check rides in its stage's check step, or, for a stage with no checks,
    in the next one's."""
    partitions = partitions_for(unit.cadence)
    by_stage: dict[str, list[Asset]] = {}
    for asset in unit.assets:
        by_stage.setdefault(asset.stage, []).append(asset)
    steps: list[dg.AssetChecksDefinition] = []
    carried: list[RecordCheck] = []
    name = unit_prefix(spec.name, unit)
    for stage, assets in by_stage.items():
        rules: list[LakeCheck] = []
        for asset in assets:
            key = keys.of(unit, asset_ref(asset))
            for check in asset.checks:
                check_spec = dg.AssetCheckSpec(
                    check.name,
                    asset=key,
                    description=check.description,
                    blocking=check.blocking,
                    partitions_def=partitions,
                )
                rules.append((check_spec, ERROR if check.error else WARN, check.rule))
            if asset.volume:
                carried.append(volume_check(key, partitions, monitoring))
        if rules:
            multi = len(assets) > 1
            steps.append(
                partition_checks(
                    f"{name}_{stage}_checks", rules, record_checks=carried, can_subset=multi
                )
            )
            carried = []
    if carried:
        steps.append(partition_checks(f"{name}_volume", [], record_checks=carried))
    return steps


def _jobs(spec: SourceSpec, keys: _Keys) -> list:
    jobs = []
    for job in spec.jobs:
        selected = [
            keys.of(unit, asset_ref(asset))
            for unit in spec.units
            if job.units is None or job.units(unit)
            for asset in unit.assets
            if not job.stages or asset.stage in job.stages
        ]
        if selected:
            jobs.append(
                dg.define_asset_job(
                    job.name,
                    selection=dg.AssetSelection.assets(*selected),
                    description=job.description,
                    tags=dict(job.tags) or None,
                )
            )
    return jobs


def _schedule(schedule: Schedule, job) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=schedule.name,
        cron_schedule=schedule.cron,
        execution_timezone=TIMEZONE,
        job=job,
        default_status=schedule_status(schedule.role),
        description=schedule.description,
    )
    def for_the_day(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = context.scheduled_execution_time or datetime.now()
        return dg.RunRequest(partition_key=day.strftime("%Y-%m-%d"))

    return for_the_day


def _sensor(sensor: Sensor, job) -> dg.SensorDefinition:
    @dg.sensor(
        name=sensor.name,
        job=job,
        minimum_interval_seconds=sensor.interval_seconds,
        default_status=sensor_status(sensor.role),
        description=sensor.description,
    )
    def evaluate(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        tick = sensor.evaluate(lake.lake(), context.cursor)
        for warning in tick.warnings:
            context.log.warning(warning)
        partitions = partitions_for(sensor.cadence)
        requests = []
        for r in tick.requests:
            if r.partition is not None and not partitions.has_partition_key(r.partition):
                context.log.warning(
                    f"{sensor.name}: {r.partition} is not a partition (before the first "
                    "import date, or in the future); skipped"
                )
                continue
            requests.append(
                dg.RunRequest(partition_key=r.partition, run_key=r.run_key, tags=dict(r.tags))
            )
        return dg.SensorResult(
            run_requests=requests,
            cursor=tick.cursor,
            skip_reason=None if requests else tick.skip_reason,
        )

    return evaluate


def build_source(spec: SourceSpec, monitoring: MonitoringConfig | None = None) -> dg.Definitions:
    """Everything ``spec`` declares, with the freshness check of each fresh asset (deadline
    from its unit) and the volume check of each counted one."""
    monitoring = monitoring or load_monitoring_config()
    keys = _Keys(spec)
    assets, checks = [], []
    deadlines: dict[dg.AssetKey, str] = {}
    for unit in spec.units:
        assets += [_step_assets(spec, unit, step, keys) for step in unit.steps]
        checks += _check_steps(spec, unit, keys, monitoring)
        for asset in unit.assets:
            if asset.freshness:
                deadlines[keys.of(unit, asset_ref(asset))] = unit.freshness
    jobs = _jobs(spec, keys)
    by_name = {job.name: job for job in jobs}
    return with_monitoring(
        spec.name,
        dg.Definitions(
            assets=assets,
            asset_checks=checks,
            jobs=jobs,
            schedules=[_schedule(s, by_name[s.job]) for s in spec.schedules if s.job in by_name],
            sensors=[_sensor(s, by_name[s.job]) for s in spec.sensors if s.job in by_name],
            resources={name: make() for name, make in spec.resources.items()},
        ),
        deadlines=deadlines,
        monitoring=monitoring,
    )
