"""Which snapshot partitions a table keeps, and why: a pure decision over partition values.

The policy keeps every daily snapshot younger than ``daily_days`` days, then the last
snapshot of each calendar month (for ``month_end_days`` days, or for good), and always:

- the newest snapshot: tomorrow's snapshot is built on it;
- the newest snapshot before each day still to be built (``building``: a day with an import
  but no snapshot yet, or a build in progress): that build's base;
- whatever a lineage ``guard`` says the remaining snapshots' proof still needs
  (:mod:`lbh_platform.retention.guards`).

The history (validity ranges) is kept whatever this says: it is how a removed day is read.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

# (snapshots kept, snapshots to delete) -> {snapshot to keep after all: why}
Guard = Callable[[Sequence[str], Sequence[str]], dict[str, str]]


@dataclass(frozen=True)
class RetentionPolicy:
    """``daily_days``: keep every snapshot this many days; then month-ends, for
    ``month_end_days`` days (None: for good) when ``month_ends``; ``enabled`` False keeps all."""

    daily_days: int = 90
    month_ends: bool = True
    month_end_days: int | None = None
    enabled: bool = True

    def describe(self) -> str:
        if not self.enabled:
            return "off (every snapshot kept)"
        after = "then nothing"
        if self.month_ends:
            span = "for good" if self.month_end_days is None else f"{self.month_end_days} days"
            after = f"then month-end snapshots {span}"
        return f"every daily snapshot for {self.daily_days} days, {after}"


@dataclass(frozen=True)
class Decision:
    value: str
    keep: bool
    reason: str


@dataclass(frozen=True)
class RetentionPlan:
    """Every snapshot partition with what becomes of it."""

    decisions: tuple[Decision, ...]
    policy: RetentionPolicy
    today: date

    @property
    def delete(self) -> list[str]:
        return [d.value for d in self.decisions if not d.keep]

    @property
    def keep(self) -> list[str]:
        return [d.value for d in self.decisions if d.keep]

    def reason(self, value: str) -> str:
        return next(d.reason for d in self.decisions if d.value == value)


def _day(value: str) -> date | None:
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        return None


def missing_snapshots(imports: Iterable[str], snapshots: Iterable[str]) -> list[str]:
    """Days with an import but no snapshot, after the first snapshot: snapshots still to be
    built, each on the newest snapshot before it."""
    have = set(snapshots)
    if not have:
        return []
    first = min(have)
    return sorted(v for v in set(imports) if v > first and v not in have)


def plan_retention(
    snapshots: Iterable[str],
    policy: RetentionPolicy,
    today: date,
    *,
    building: Iterable[str] = (),
    guard: Guard | None = None,
) -> RetentionPlan:
    """What to delete and why (see the module docstring); deletes nothing itself."""
    values = sorted(set(snapshots))
    reasons: dict[str, tuple[bool, str]] = {}
    if not policy.enabled:
        reasons = {v: (True, "retention is off for this table") for v in values}
        return RetentionPlan(tuple(Decision(v, *reasons[v]) for v in values), policy, today)
    days = {v: _day(v) for v in values}
    month_end: dict[tuple[int, int], str] = {}
    for value, day in days.items():
        if day is not None:
            month_end[(day.year, day.month)] = value  # values are sorted: the last one wins
    newest = values[-1] if values else None
    bases = {}
    for pending in sorted(set(building)):
        earlier = [v for v in values if v < pending]
        if earlier:
            bases.setdefault(earlier[-1], pending)
    for value, day in days.items():
        if day is None:
            reasons[value] = (True, "not a YYYYMMDD partition: left alone")
        elif value == newest:
            reasons[value] = (True, "the newest snapshot (the next one is built on it)")
        elif value in bases:
            reasons[value] = (True, f"the base of snapshot {bases[value]}, still to be built")
        elif (today - day).days < policy.daily_days:
            reasons[value] = (True, f"within {policy.daily_days} days")
        elif policy.month_ends and month_end[(day.year, day.month)] == value:
            if policy.month_end_days is None or (today - day).days < policy.month_end_days:
                reasons[value] = (True, f"month-end snapshot of {day:%Y-%m}")
            else:
                reasons[value] = (False, f"month-end older than {policy.month_end_days} days")
        else:
            reasons[value] = (False, f"older than {policy.daily_days} days, not a month-end")
    if guard is not None:
        doomed = [v for v, (keep, _) in reasons.items() if not keep]
        if doomed:
            kept = [v for v, (keep, _) in reasons.items() if keep]
            for value, why in guard(kept, doomed).items():
                if value in reasons and not reasons[value][0]:
                    reasons[value] = (True, why)
    return RetentionPlan(tuple(Decision(v, *reasons[v]) for v in values), policy, today)
