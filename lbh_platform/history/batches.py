"""Which imports a history applies together, and as of which day: the snapshots' batches.

A snapshot of D applies every import since its base together (latest ``last_updated`` per id
over all of them), so when a day's snapshot is missing its imports reach the next snapshot as
one batch. The history reproduces those batches: a batch's versions take effect on the
snapshot's date (``valid_from``). Where the snapshot recorded its imports (``lbh.applied``)
that list is the batch; a snapshot without the note applied the imports since the snapshot
before it; an import no remaining snapshot covers (its snapshot was removed by retention) keeps
the batch the history recorded for it, else forms a batch of its own.

Pure functions over listings; no I/O.
"""

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbh_platform.common.errors import DataError


@dataclass(frozen=True)
class Batch:
    """Imports applied together, effective from ``valid_from`` (``YYYYMMDD``); ``written``:
    when each import's increment was written, as it was (or is to be) applied."""

    valid_from: str
    imports: tuple[str, ...]
    written: Mapping[str, float] = field(default_factory=dict, compare=False)
    # When the snapshot this batch was read from was written (None: not from a snapshot):
    # a snapshot not re-written since need not have its footer read again.
    snapshot_written: float | None = field(default=None, compare=False)

    def same_as(self, other: "Batch") -> bool:
        """Same day, same imports, each increment as it was when applied."""
        return (
            self.valid_from == other.valid_from
            and self.imports == other.imports
            and all(self.written.get(i) == other.written.get(i) for i in self.imports)
        )

    def to_json(self) -> dict[str, object]:
        return {
            "valid_from": self.valid_from,
            "imports": list(self.imports),
            "written": {i: self.written.get(i) for i in self.imports},
            "snapshot_written": self.snapshot_written,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Batch":
        imports = tuple(str(i) for i in data["imports"])
        written = data.get("written") or {}
        return cls(str(data["valid_from"]), imports, dict(written), data.get("snapshot_written"))


def dumps(batches: Sequence[Batch]) -> str:
    return json.dumps([b.to_json() for b in batches], separators=(",", ":"))


def loads(text: str | None) -> list[Batch]:
    return [Batch.from_json(b) for b in json.loads(text)] if text else []


def plan(
    increments: Mapping[str, float],
    snapshots: Mapping[str, float] | None,
    applied_of: Callable[[str], Sequence[str] | None],
    recorded: Sequence[Batch],
    upto: str,
    what: str,
) -> list[Batch]:
    """Every batch up to ``upto``, in order, each with its increments' current write times.

    ``increments``: published increment partitions (value -> written); ``snapshots``: the
    published snapshots (None: the source keeps none, every import is its own batch);
    ``applied_of(s)``: the imports snapshot ``s`` recorded, or None; ``recorded``: the batches
    the history recorded. Imports after the newest snapshot up to ``upto`` are not applied yet
    (no snapshot holds them). Raises DataError naming ``what`` when a snapshot applied an
    import whose increment is gone.
    """
    chosen: list[Batch] = []
    covered: set[str] = set()
    limit = upto
    known = {b.valid_from: b for b in recorded if b.snapshot_written is not None}
    if snapshots is not None:
        held = sorted(s for s in snapshots if s <= upto)
        previous: str | None = None
        for value in held:
            same = known.get(value)
            if same is not None and same.snapshot_written == snapshots[value]:
                applied: Sequence[str] | None = same.imports  # not re-written since
            else:
                applied = applied_of(value)
            if applied is None:
                applied = [
                    i for i in increments if (previous is None or i > previous) and i <= value
                ]
            imports = tuple(sorted(applied))
            covered.update(imports)
            chosen.append(Batch(value, imports, snapshot_written=snapshots[value]))
            previous = value
        limit = held[-1] if held else ""
    uncovered = sorted(i for i in increments if i <= limit and i not in covered)
    free = set(uncovered)
    for batch in recorded:
        if batch.imports and set(batch.imports) <= free and batch.valid_from <= limit:
            chosen.append(Batch(batch.valid_from, batch.imports))
            free -= set(batch.imports)
    chosen.extend(Batch(i, (i,)) for i in sorted(free))
    chosen.sort(key=lambda b: b.valid_from)
    out: list[Batch] = []
    for batch in chosen:
        if not batch.imports:
            continue
        missing = [i for i in batch.imports if i not in increments]
        if missing:
            raise DataError(
                f"{what}: batch {batch.valid_from} applies import(s) {', '.join(missing)} whose "
                "increment is not published; materialise them (or re-run that snapshot) first"
            )
        written = {i: increments[i] for i in batch.imports}
        out.append(Batch(batch.valid_from, batch.imports, written, batch.snapshot_written))
    seen: set[str] = set()
    for batch in out:
        twice = seen.intersection(batch.imports)
        if twice:
            raise DataError(f"{what}: import(s) {sorted(twice)} are in two snapshots' batches")
        seen.update(batch.imports)
    return out


def first_difference(recorded: Sequence[Batch], planned: Sequence[Batch]) -> str | None:
    """The earliest ``valid_from`` where the history's batches and the plan disagree (a batch
    missing, extra, with other imports, or an increment re-written since), or None."""
    ours = {b.valid_from: b for b in recorded}
    theirs = {b.valid_from: b for b in planned}
    differing = [
        day
        for day in set(ours) | set(theirs)
        if day not in ours or day not in theirs or not ours[day].same_as(theirs[day])
    ]
    return min(differing) if differing else None
