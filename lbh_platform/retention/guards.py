"""Guards: snapshots a retention plan must keep so the remaining ones stay provably sound.

- :func:`lineage_guard` for snapshot chains judged by write times
  (:mod:`lbh_platform.common.lineage`): a deletion is refused when, without that snapshot,
  the chain's proof would find an unsound snapshot it does not find now (for instance a
  snapshot whose recorded base, built before a gap was filled, would be gone);
- :func:`recorded_base_guard` for chains whose proof needs each snapshot's recorded base to
  exist (an event stream's): the recorded base of every kept snapshot is kept.
"""

from collections.abc import Callable, Sequence

from lbh_platform.common import lineage
from lbh_platform.retention.policy import Guard


def lineage_guard(inputs: lineage.Inputs) -> Guard:
    """Keep any snapshot whose deletion would change what ``first_unsound`` finds."""

    def judge(snapshots: set[str]) -> tuple[str, str] | None:
        if not snapshots:
            return None
        trial = lineage.Inputs(
            inputs.stages,
            {v: t for v, t in inputs.snapshots.items() if v in snapshots},
            recorded_base=inputs.recorded_base,
        )
        found = lineage.first_unsound(trial, max(snapshots))
        return None if found is None else (found.snapshot, found.reason)

    def guard(kept: Sequence[str], doomed: Sequence[str]) -> dict[str, str]:
        remaining = set(kept) | set(doomed)
        before = judge(remaining)
        refused: dict[str, str] = {}
        for value in sorted(doomed):
            after = judge(remaining - {value})
            if after != before and after is not None:
                refused[value] = (
                    f"kept: without it the lineage proof would judge snapshot {after[0]} "
                    f"unsound ({after[1]})"
                )
            else:
                remaining.discard(value)
        return refused

    return guard


def recorded_base_guard(recorded_base: Callable[[str], str | None]) -> Guard:
    """Keep the recorded base of every kept snapshot, and its base in turn."""

    def guard(kept: Sequence[str], doomed: Sequence[str]) -> dict[str, str]:
        doomed_set = set(doomed)
        refused: dict[str, str] = {}
        pending = list(kept)
        while pending:
            value = pending.pop()
            base = recorded_base(value)
            if base is not None and base in doomed_set and base not in refused:
                refused[base] = f"kept: the recorded base of snapshot {value}, which is kept"
                pending.append(base)
        return refused

    return guard
