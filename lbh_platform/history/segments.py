"""A history's files: segments, what each holds, and which are live.

One parquet file per segment, ``<history>/segment=<name>/part-0.parquet``:

- ``day-D``: the versions (and tombstones) of batch D, as applied that day;
- ``recent-A-B-<op>``: the day segments A..B merged (a minor compaction), rows unchanged;
- ``base-C-<op>``: every version current on day C, sorted by ``valid_from``;
- ``closed-A-B-<op>``: versions that ended after A and by B, with their exact ``valid_to``,
  sorted by ``valid_from`` so ``as of D`` reads only a prefix of each.

``day``, ``recent`` and ``base`` rows are written *open* (``valid_to`` null): a later row of
the same id in a later segment closes them, and the next major compaction moves them to a
``closed`` segment with their ``valid_to``. So "as of D" is: rows with ``valid_from <= D``
and ``valid_to`` null or after D, the newest per id, unless that one is a tombstone.

Every write is an *operation*, numbered in the order they start (one writer at a time, as
for snapshots): its outputs carry its id and number, and the one it publishes last carries the
commit, the (name, operation) pairs it replaces, in the order they are removed (open segments
before the day segments, oldest day first, so that every intermediate state answers "as of D"
correctly for a SQL reader that lists the folder). Readers use the live set (:func:`live`):
every output but what a commit replaced and the orphans, outputs of an operation newer than
the newest commit (it died before committing), which the next writer removes.
"""

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lbh_platform.history.batches import Batch, dumps, loads

KIND = "lbh.history.kind"
OPERATION = "lbh.history.operation"
SEQUENCE = "lbh.history.sequence"  # operations are numbered in the order they start
COMMIT = "lbh.history.commit"
BATCHES = "lbh.history.batches"
ID_COLUMN = "lbh.history.id_column"
CLOSED_AFTER = "lbh.history.closed_after"
CLOSED_UNTIL = "lbh.history.closed_until"
KINDS = ("closed", "base", "recent", "day")


def new_operation() -> str:
    return uuid.uuid4().hex


def day_name(valid_from: str) -> str:
    return f"day-{valid_from}"


# A rewrite's outputs carry a piece of its operation id in their names: an operation that
# dies before it commits must never have replaced a live segment of the same name.
def recent_name(first: str, last: str, operation: str) -> str:
    return f"recent-{first}-{last}-{operation[:8]}"


def base_name(day: str, operation: str) -> str:
    return f"base-{day}-{operation[:8]}"


def closed_name(after: str, until: str, operation: str) -> str:
    return f"closed-{after}-{until}-{operation[:8]}"


@dataclass(frozen=True)
class Segment:
    """One published segment: its name, footer notes and row count."""

    name: str
    notes: Mapping[str, str]
    rows: int

    @property
    def kind(self) -> str:
        return self.notes.get(KIND, self.name.split("-", 1)[0])

    @property
    def operation(self) -> str:
        return self.notes.get(OPERATION, "")

    @property
    def sequence(self) -> int:
        return int(self.notes.get(SEQUENCE, "0"))

    @property
    def replaces(self) -> list[tuple[str, str]] | None:
        """What this segment's commit replaced, or None when it commits nothing."""
        text = self.notes.get(COMMIT)
        return None if text is None else [tuple(pair) for pair in json.loads(text)]

    @property
    def batches(self) -> list[Batch]:
        return loads(self.notes.get(BATCHES))

    @property
    def is_open(self) -> bool:
        return self.kind in ("base", "recent", "day")

    @property
    def closed_range(self) -> tuple[str, str] | None:
        if self.kind != "closed":
            return None
        return self.notes.get(CLOSED_AFTER, ""), self.notes.get(CLOSED_UNTIL, "")


@dataclass(frozen=True)
class State:
    """A history's live segments, and what a writer should remove before it writes."""

    segments: list[Segment]
    orphans: list[str] = field(default_factory=list)
    pending_removal: list[str] = field(default_factory=list)
    next_sequence: int = 1

    def of_kind(self, kind: str) -> list[Segment]:
        return sorted((s for s in self.segments if s.kind == kind), key=lambda s: s.name)

    @property
    def base(self) -> Segment | None:
        bases = self.of_kind("base")
        return bases[-1] if bases else None

    @property
    def batches(self) -> list[Batch]:
        """Every batch the live segments recorded, by ``valid_from``."""
        found: dict[str, Batch] = {}
        for segment in self.segments:
            for batch in segment.batches:
                found[batch.valid_from] = batch
        return [found[k] for k in sorted(found)]

    @property
    def compacted_until(self) -> str | None:
        """The newest batch held by a base or recent segment (older ones are not in day
        segments, so changing one needs a rebuild)."""
        days = [b.valid_from for s in self.segments if s.kind in ("base", "recent")
                for b in s.batches]  # fmt: skip
        return max(days) if days else None

    @property
    def open_segments(self) -> list[Segment]:
        """Base, recent, then day segments: ascending ``valid_from`` order."""
        return [*self.of_kind("base"), *self.of_kind("recent"), *self.of_kind("day")]

    def names(self) -> list[str]:
        return [s.name for s in self.segments]


def live(found: Sequence[Segment]) -> State:
    """The live set of ``found`` (every published segment)."""
    commits = [s for s in found if s.replaces is not None]
    newest_commit = max((s.sequence for s in commits), default=0)
    committed = {s.operation for s in commits}
    replaced: list[tuple[str, str]] = []
    for segment in sorted(commits, key=lambda s: s.sequence):
        replaced.extend(segment.replaces or [])
    by_name = {s.name: s for s in found}
    gone = [name for name, op in replaced if name in by_name and by_name[name].operation == op]
    orphans = [s.name for s in found if s.operation not in committed and s.sequence > newest_commit]
    segments = [s for s in found if s.name not in gone and s.name not in orphans]
    following = max((s.sequence for s in found), default=0) + 1
    return State(
        sorted(segments, key=lambda s: s.name), orphans, list(dict.fromkeys(gone)), following
    )


def removal_order(segments: Sequence[Segment]) -> list[tuple[str, str]]:
    """The order a commit removes what it replaces: open segments before day segments, the
    oldest day first, closed segments last (see the module docstring)."""
    rank = {"base": 0, "recent": 1, "day": 2, "closed": 3}
    ordered = sorted(segments, key=lambda s: (rank.get(s.kind, 4), s.name))
    return [(s.name, s.operation) for s in ordered]


def commit_notes(replaced: Sequence[Segment]) -> dict[str, str]:
    return {COMMIT: json.dumps(removal_order(replaced))}


def notes_for(
    kind: str, operation: str, sequence: int, id_column: str, batches: Sequence[Batch] = ()
) -> dict[str, str]:
    notes = {KIND: kind, OPERATION: operation, SEQUENCE: str(sequence), ID_COLUMN: id_column}
    if batches:
        notes[BATCHES] = dumps(batches)
    return notes


@dataclass(frozen=True)
class Policy:
    """When a history compacts.

    ``max_days``: day segments kept before a minor compaction merges them into one recent
    segment (each is a file "as of D" opens), together with the newest recent segments while
    they are at most twice the rows merged so far, so recent segments grow geometrically: a
    row is rewritten a logarithmic number of times and "as of D" opens a logarithmic number
    of them; ``open_share``: a major compaction (which rewrites the base) runs once the rows
    written since the base reach this share of the base, so its cost per day is about the
    day's changes over ``open_share``, whatever the table's size (and "as of D" after the base
    reads at most that share more than the rows it returns); ``catch_up``: more missing
    batches than this are applied by a rebuild in one pass rather than day by day;
    ``closed_share``: a rebuild cuts closed segments of about this share of the live rows.
    """

    max_days: int = 8
    open_share: float = 0.25
    catch_up: int = 8
    closed_share: float = 0.5

    def minor_due(self, state: State) -> bool:
        return len(state.of_kind("day")) > self.max_days

    def minor_inputs(self, state: State) -> list[Segment]:
        """The day segments and the newest recent ones merged with them, oldest first."""
        days = state.of_kind("day")
        merged = sum(s.rows for s in days)
        taken: list[Segment] = []
        for recent in reversed(state.of_kind("recent")):
            if recent.rows > 2 * merged:
                break
            taken.insert(0, recent)
            merged += recent.rows
        return [*taken, *days]

    def major_due(self, state: State) -> bool:
        base = state.base
        since = sum(s.rows for s in [*state.of_kind("recent"), *state.of_kind("day")])
        if base is None:
            return since > 0
        return since >= self.open_share * max(base.rows, 1)


def closed_cuts(valid_to_counts: Mapping[str, int], target_rows: int) -> list[tuple[str, str]]:
    """Closed segments for a rebuild: consecutive ``valid_to`` ranges (after, until] of about
    ``target_rows`` rows each, from the count of versions ending on each day."""
    days = sorted(valid_to_counts)
    if not days:
        return []
    cuts: list[tuple[str, str]] = []
    start = "00000000"
    rows = 0
    for index, value in enumerate(days):
        rows += valid_to_counts[value]
        if rows >= target_rows and index < len(days) - 1:
            cuts.append((start, value))
            start, rows = value, 0
    cuts.append((start, days[-1]))
    return cuts
