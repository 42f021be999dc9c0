"""The one source contract: what a source declares, as typed data (no Dagster here).

A source (Tascomi, Alloy, an event-streamed entity, …) is a :class:`SourceSpec`: its
*units* (a table, a dataset, an entity), each a chain of :class:`Step` s that publish
:class:`Asset` s with their :class:`Check` s, plus jobs, schedules and sensors named by
stage, and the resources its steps need. :mod:`lbh_platform.lib.build` turns a spec into
Dagster definitions; asset keys are made there, in one place (:func:`asset_path`), and the
stage functions report stage names, never keys.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any, Literal

from lbh_platform.common.quality import RuleOutcome
from lbh_platform.common.stage_report import StageReport
from lbh_platform.erasure.personal import PersonalData
from lbh_platform.lib.roles import DAILY_INGEST, FOLLOW_UP, Role
from lbh_platform.storage.lake import Lake

Cadence = Literal["daily", "weekly"]
Rule = Callable[[Lake, str], RuleOutcome]  # (lake, partition value YYYYMMDD)


@dataclass(frozen=True)
class Check:
    """A data-quality rule evaluated for every partition an asset publishes."""

    name: str
    description: str
    rule: Rule
    error: bool = True  # ERROR severity; WARN otherwise
    blocking: bool = False  # a failure stops downstream steps (run and automation)


@dataclass(frozen=True)
class Asset:
    """One table a step publishes, at one stage of its unit. ``table`` names it when a unit
    publishes several tables at one stage (an Alloy dataset's); otherwise the unit's label."""

    stage: str
    description: str
    location: str  # where its partitions live, for the UI ("raw:planning/tascomi/...")
    checks: tuple[Check, ...] = ()
    deps: tuple[str, ...] = ()  # refs (see :func:`ref`) of the same unit's assets it reads
    table: str | None = None
    label: str | None = None  # the node's name stem when not the table's or unit's own
    eager: bool = False  # runs as soon as its deps land and their blocking checks pass
    eager_ignores: tuple[str, ...] = ()  # deps that must not hold it back
    freshness: bool = False  # its partition of the day is expected by the unit's deadline
    volume: bool = False  # row count checked against its own history
    kinds: frozenset[str] = frozenset({"python", "parquet"})
    personal: PersonalData | None = None  # columns and nested fields holding personal data
    catalog: str | None = None  # its catalogue table name: where ``personal`` is marked


@dataclass
class StepContext:
    """What a step's function gets: the lake, the engine (made when first asked for, so a
    step that never transforms never starts Spark), the resources it asked for, and the run's
    tags (e.g. a confirmation a guard needs)."""

    lake: Lake
    make_engine: Callable[[], Any]
    resources: Mapping[str, Any]
    tags: Mapping[str, str]
    log: Any
    memo: dict[str, Any] = field(default_factory=dict)  # per run: e.g. one DynamoDB scan

    @cached_property
    def engine(self) -> Any:
        return self.make_engine()


StepRun = Callable[[StepContext, date], list[StageReport]]


@dataclass(frozen=True)
class Step:
    """One unit of work (a Dagster op): publishes ``assets`` for each partition it runs. A
    report whose metadata has the written ``path`` gets the file's column schema (with the
    asset's personal columns tagged) on its materialisation."""

    name: str
    assets: tuple[Asset, ...]
    run: StepRun
    resources: tuple[str, ...] = ()  # resource keys besides lake and engine


@dataclass(frozen=True)
class Unit:
    """A table, dataset or entity: the steps of one chain of stages, one pool."""

    name: str
    path: tuple[str, ...]  # key path between the source and the stage, e.g. ("graffiti",)
    label: str  # the last key component's stem: the node's name in the graph
    steps: tuple[Step, ...]
    cadence: Cadence = "daily"
    pool: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    freshness: str = "daily"  # deadline cadence of its fresh assets: daily, weekly, weekdays

    @property
    def assets(self) -> list[Asset]:
        return [a for s in self.steps for a in s.assets]


@dataclass(frozen=True)
class Job:
    """A job over chosen stages of chosen units (all units when ``units`` is None)."""

    name: str
    description: str
    stages: tuple[str, ...]
    units: Callable[[Unit], bool] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    """Run ``job`` for the partition of the day at ``cron`` (London time)."""

    name: str
    job: str
    cron: str
    description: str
    role: Role = DAILY_INGEST  # decides whether it starts RUNNING (lib/roles.py)


@dataclass(frozen=True)
class SensorRequest:
    partition: str | None = None  # YYYY-MM-DD
    run_key: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SensorTick:
    requests: Sequence[SensorRequest] = ()
    cursor: str | None = None
    skip_reason: str | None = None
    warnings: Sequence[str] = ()


@dataclass(frozen=True)
class Sensor:
    """A sensor over the lake: ``evaluate(lake, cursor)`` says which runs of ``job`` to
    request."""

    name: str
    job: str
    description: str
    evaluate: Callable[[Lake, str | None], SensorTick]
    interval_seconds: int = 120
    role: Role = FOLLOW_UP
    cadence: Cadence = "daily"  # a requested partition outside the job's is skipped, said


@dataclass(frozen=True)
class Housekeeping:
    """What the retention and erasure tools need of a source. ``name`` is how the retention
    file and the erase command name it (every event-streamed entity: ``event_streams``);
    ``tables`` what erasure takes as a table (a Tascomi table, an Alloy dataset, an entity);
    ``snapshot_tables(lake)`` its snapshots for retention; ``erasure_targets(lake, table,
    field path or None)`` a table's stages in pipeline order with where each holds the key."""

    name: str
    tables: tuple[str, ...]
    snapshot_tables: Callable[[Lake], Sequence[Any]]
    erasure_targets: Callable[[Lake, str, str | None], Sequence[Any]]


@dataclass(frozen=True)
class SourceSpec:
    """Everything a source brings. ``resources`` are made when definitions load."""

    name: str
    group: str
    units: tuple[Unit, ...]
    jobs: tuple[Job, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    sensors: tuple[Sensor, ...] = ()
    resources: Mapping[str, Callable[[], Any]] = field(default_factory=dict)
    description: str = ""
    housekeeping: Housekeeping | None = None  # None: no retention, no erasure


def ref(stage: str, table: str | None = None) -> str:
    """How an asset is named within its unit (deps, stage reports): its stage, plus its table
    when the unit publishes several at one stage."""
    return stage if table is None else f"{stage}:{table}"


def asset_ref(asset: Asset) -> str:
    return ref(asset.stage, asset.table)


def report_ref(report: StageReport) -> str:
    return ref(report.stage, report.table)


def asset_path(source: str, unit: Unit, asset: Asset) -> tuple[str, ...]:
    """The one rule for asset keys: ``<source>/<stage>/<unit path…>/<table>_<stage>``, so a
    node in the graph names its table and its stage."""
    stem = asset.label or asset.table or unit.label
    return (source, asset.stage, *unit.path, f"{stem}_{asset.stage}")


def stage_path(source: str, unit: Unit, stage: str) -> tuple[str, ...]:
    """The key of ``unit``'s one asset at ``stage`` (for tools that select by stage)."""
    [asset] = [a for a in unit.assets if a.stage == stage]
    return asset_path(source, unit, asset)


def unit_prefix(source: str, unit: Unit) -> str:
    """How a unit's step and check-step names start: ``<source>_<unit>``, or the source alone
    when the unit is the source's only one of that name (an event-streamed entity)."""
    return source if unit.name == source else f"{source}_{unit.name}"


def previous_asset_path(source: str, unit: Unit, asset: Asset) -> tuple[str, ...]:
    """The key rule before the source contract (``<source>/<stage>/<unit path…>/<table>``):
    only for moving an existing instance's records to today's keys (``cli.migrate_keys``)."""
    return (source, asset.stage, *unit.path, asset.table or unit.label)
