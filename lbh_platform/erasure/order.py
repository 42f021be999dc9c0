"""The write-time order an erasure keeps: a partition is newer than what it is built from.

Stages whose lineage is judged by write times (``TableTarget.depends_on``) must stay in that
order after an erasure publishes partitions again; :func:`out_of_order` finds partitions that
are already out of it (their proof fails), which an erasure must not hide.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from lbh_platform.erasure.targets import TableTarget, Target


@dataclass(frozen=True)
class Disorder:
    """A partition older than one it is built from (its lineage proof fails)."""

    stage: str
    partition: str
    reason: str


def check_order(targets: Sequence[Target]) -> None:
    seen: set[str] = set()
    for target in targets:
        if target.stage in seen:
            raise ValueError(f"erasure: two targets are named {target.stage!r}")
        if isinstance(target, TableTarget):
            unknown = [d for d in target.depends_on if d not in seen]
            if unknown:
                raise ValueError(
                    f"erasure: {target.stage} depends on {unknown}, which are not earlier targets"
                )
        seen.add(target.stage)


def out_of_order(targets: Sequence[Target]) -> list[Disorder]:
    """Partitions written before a partition they are built from (by the stores' listing)."""
    written = {t.stage: t.table.written() for t in targets if isinstance(t, TableTarget)}
    found: list[Disorder] = []
    for target in targets:
        if not isinstance(target, TableTarget):
            continue
        deps = [d for d in target.depends_on if d in written]
        if not deps:
            continue
        own = written[target.stage]
        at: dict[str, list[tuple[float, str]]] = {}  # value -> (written, what) of its inputs
        for d in deps:
            for v, t in written[d].items():
                at.setdefault(v, []).append((t, f"{d} {v}"))
        prior: tuple[float, str] | None = None  # cumulative: the newest input before a value
        for value in sorted(set(own) | (set(at) if target.cumulative else set())):
            inputs = list(at.get(value, []))
            if target.cumulative and prior is not None:
                inputs.append(prior)
            if value in own and inputs and max(inputs)[0] > own[value]:
                late = max(inputs)[1]
                found.append(Disorder(target.stage, value, f"written before {late}"))
            if target.cumulative:
                # Inputs only: an earlier snapshot written later is a gap filled afterwards,
                # which the proof accepts (the later one recorded its base).
                prior = max(inputs, default=prior)
    return found
