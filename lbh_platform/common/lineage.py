"""Whether a snapshot is built on every import up to its day, each as it is now.

A snapshot of D is its base (the newest earlier snapshot) plus every import after the base up
to D. An import that never reached the stage the snapshot applies (a blocked check, a killed
run, a day never run) or that was re-run after the snapshots built on it would make a snapshot
that is silently smaller or staler than the data it claims to hold. These rules find both from
what is published, before a snapshot is written (so it is not) and after (the check).

Freshness is judged by when each partition's file was written, as the store lists it: an
import is *ready* when every stage it passes through was written after the stage before it,
and a snapshot is *sound* when it was written after its base and after every import it
applied, and its base is sound. Pure functions over listings: no I/O, no Dagster.
"""

import bisect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from lbh_platform.common.quality import RuleOutcome

BASE_KEY = "lbh.base"  # footer note: the snapshot a snapshot was built on ("" for none)
APPLIED_KEY = "lbh.applied"  # footer note: JSON list of the imports it applied


@dataclass(frozen=True)
class Stage:
    """One stage's published partitions: value -> when its file was written (seconds)."""

    name: str
    written: Mapping[str, float]


@dataclass(frozen=True)
class Inputs:
    """A snapshot table's inputs as published.

    ``stages`` run from the import to the stage a snapshot applies (the same one when a
    snapshot applies the import directly); a partition in any of them is an import.
    ``recorded_base`` gives the base a snapshot recorded when it was written, for the rare
    snapshot written before the one preceding it (a gap filled later); ``None`` when it
    recorded none.
    """

    stages: Sequence[Stage]
    snapshots: Mapping[str, float]
    recorded_base: Callable[[str], str | None] = lambda value: None
    imports: list[str] = field(init=False)

    def __post_init__(self) -> None:
        values = {value for stage in self.stages for value in stage.written}
        object.__setattr__(self, "imports", sorted(values))

    @property
    def applied_stage(self) -> Stage:
        return self.stages[-1]

    def between(self, after: str | None, upto: str) -> list[str]:
        """Imports after ``after`` (exclusive; None: from the first) up to ``upto``."""
        start = 0 if after is None else bisect.bisect_right(self.imports, after)
        return self.imports[start : bisect.bisect_right(self.imports, upto)]

    def unready(self, value: str) -> str | None:
        """Why import ``value`` cannot be applied as it is now, or None when it can.

        An import starts at the first stage holding it (its raw partition may be gone) and
        must reach the applied stage through every later one, each written after the one
        before it.
        """
        present = [stage for stage in self.stages if value in stage.written]
        if not present:
            return None
        before = present[0]
        for stage in self.stages[self.stages.index(before) + 1 :]:
            written = stage.written.get(value)
            if written is None:
                return f"its {stage.name} is not materialised"
            if written < before.written[value]:
                return f"its {stage.name} was written before its {before.name} was re-run"
            before = stage
        return None


@dataclass(frozen=True)
class Gap:
    """An import a snapshot needs but cannot apply."""

    value: str
    reason: str


@dataclass(frozen=True)
class Unsound:
    """A published snapshot that no longer matches its inputs."""

    snapshot: str
    reason: str
    first_day: str  # the earliest partition a re-run has to start from


@dataclass(frozen=True)
class Plan:
    """What snapshot ``value`` is built from: ``base`` plus ``applied``, if sound."""

    value: str
    base: str | None
    applied: list[str]
    gaps: list[Gap]
    unsound_base: Unsound | None

    @property
    def ok(self) -> bool:
        return not self.gaps and self.unsound_base is None

    @property
    def first_day(self) -> str | None:
        """Where a ranged re-run has to start for this snapshot to be right."""
        days = [g.value for g in self.gaps]
        if self.unsound_base is not None:
            days.append(self.unsound_base.first_day)
        return min(days) if days else None


def _base_of(inputs: Inputs, snapshot: str, previous: str | None) -> str | None:
    """The snapshot ``snapshot`` was built on: the one before it, unless that one was written
    later (a gap filled afterwards) and ``snapshot`` recorded an earlier base."""
    if previous is None or inputs.snapshots[previous] <= inputs.snapshots[snapshot]:
        return previous
    recorded = inputs.recorded_base(snapshot)
    if recorded is not None and recorded < previous and recorded in inputs.snapshots:
        return recorded
    return previous


def _judge(inputs: Inputs, snapshot: str, base: str | None) -> Unsound | None:
    written = inputs.snapshots[snapshot]
    if base is not None and inputs.snapshots[base] > written:
        return Unsound(
            snapshot,
            f"it was written before snapshot {base}, its base, was re-written",
            min(base, snapshot),
        )
    applied = inputs.applied_stage
    for value in inputs.between(base, snapshot):
        reason = inputs.unready(value)
        if reason is not None:
            return Unsound(snapshot, f"import {value} is not applied: {reason}", value)
        if applied.written[value] > written:
            return Unsound(
                snapshot, f"{applied.name} {value} was re-written after it was built", value
            )
    return None


def first_unsound(inputs: Inputs, upto: str) -> Unsound | None:
    """The earliest snapshot at or before ``upto`` not built on its inputs as they are now.

    Each snapshot is judged against its own base, so one unsound snapshot makes every later
    one unsound too: the earliest is where a re-run starts.
    """
    previous: str | None = None
    for snapshot in sorted(v for v in inputs.snapshots if v <= upto):
        found = _judge(inputs, snapshot, _base_of(inputs, snapshot, previous))
        if found is not None:
            return found
        previous = snapshot
    return None


def plan(inputs: Inputs, value: str) -> Plan:
    """The base and imports of a new snapshot ``value``, with every reason it would be wrong."""
    earlier = [v for v in inputs.snapshots if v < value]
    base = max(earlier) if earlier else None
    between = inputs.between(base, value)
    gaps = [Gap(v, r) for v in between if (r := inputs.unready(v)) is not None]
    unsound = first_unsound(inputs, base) if base is not None else None
    return Plan(value, base, between, gaps, unsound)


def verify(inputs: Inputs, value: str) -> Unsound | None:
    """Whether published snapshot ``value`` holds every import up to it, as it is now."""
    if value not in inputs.snapshots:
        return Unsound(value, "it is not published", value)
    return first_unsound(inputs, value)


def partition_key(value: str) -> str:
    """``YYYYMMDD`` as the ``YYYY-MM-DD`` partition key the UI and CLI take."""
    return f"{value[:4]}-{value[4:6]}-{value[6:]}"


def refusal(plan: Plan, what: str, rerun: str) -> str:
    """Why snapshot ``plan.value`` is not published and the way out, in one message.

    ``what`` names the snapshot ("tascomi appeals snapshot 20240306"); ``rerun`` names what to
    backfill ("every stage of tascomi appeals").
    """
    causes = [f"import {g.value} is not applied ({g.reason})" for g in plan.gaps]
    if plan.unsound_base is not None:
        causes.append(
            f"its base chain is not current: snapshot {plan.unsound_base.snapshot} "
            f"({plan.unsound_base.reason})"
        )
    first = partition_key(plan.first_day or plan.value)
    return (
        f"{what} is not published: {'; '.join(causes)}. Built anyway it would silently miss "
        "records or hold stale versions. Fix the cause (the failed check or run of that day), "
        f"then backfill {rerun} from {first} to {partition_key(plan.value)} as one range."
    )


def notes(plan: Plan) -> dict[str, str]:
    """What a snapshot built by ``plan`` records in its footer, for :func:`proof`."""
    return {BASE_KEY: plan.base or "", APPLIED_KEY: json.dumps(plan.applied)}


def proof(inputs: Inputs, value: str, footer: Mapping[str, str], rerun: str) -> RuleOutcome:
    """The check every snapshot carries: it applied every import since its base (as recorded
    in its footer, recomputed from what is published now), each as it is now, on a base that
    is itself current. ``rerun`` names what to backfill ("every stage of appeals")."""
    recorded = json.loads(footer.get(APPLIED_KEY, "null"))
    base = footer.get(BASE_KEY)
    metadata: dict[str, object] = {
        "base_snapshot_date": base or "none",
        "imports_applied": recorded if recorded is not None else "not recorded",
    }
    if recorded is not None:
        skipped = sorted(set(inputs.between(base or None, value)) - set(recorded))
        if skipped:
            metadata["imports_not_applied"] = skipped
            return RuleOutcome(
                False,
                f"imports {', '.join(skipped)} are published but were not applied; backfill "
                f"{rerun} from {partition_key(skipped[0])} to {partition_key(value)}",
                metadata,
            )
    unsound = verify(inputs, value)
    if unsound is not None:
        metadata["first_unsound_snapshot"] = unsound.snapshot
        return RuleOutcome(
            False,
            f"snapshot {unsound.snapshot} does not hold its inputs as they are now: "
            f"{unsound.reason}; backfill {rerun} from {partition_key(unsound.first_day)} to "
            f"{partition_key(value)}",
            metadata,
        )
    return RuleOutcome(True, "every import since the base is applied, as it is now", metadata)
