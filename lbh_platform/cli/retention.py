"""Snapshot retention: list what would be removed (the default), or remove it (``--apply``).

    python -m lbh_platform.cli.retention                     # every source, a dry run
    python -m lbh_platform.cli.retention tascomi --table applications
    python -m lbh_platform.cli.retention --apply --today 2024-06-30

Each table's policy comes from ``config/retention.yaml`` (or ``LBH_RETENTION_CONFIG``, or
``--config``). Only snapshot partitions are removed, from the zone, Glue and the local
catalogue; a table always keeps its newest snapshot, the base of any snapshot still to be
built and what its lineage proof needs. ``--apply`` appends what it removed to the audit log
(``<refined zone>/lbh-audit/retention/``). See docs/RETENTION.md.

Which tables each source has is decided here for now (:func:`snapshot_tables`); the
scheduled job will take the same from each source's spec.
"""

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from lbh_platform.alloy.locations import alloy_table
from lbh_platform.catalog.base import CatalogError
from lbh_platform.common.errors import ConfigurationError, DataError
from lbh_platform.erasure import AuditLog, operator
from lbh_platform.retention import (
    RetentionConfig,
    RetentionPlan,
    apply_retention,
    lineage_guard,
    load_retention,
    missing_snapshots,
    plan_retention,
    recorded_base_guard,
)
from lbh_platform.retention.policy import Guard
from lbh_platform.storage.lake import Lake
from lbh_platform.storage.partitioned_table import PartitionedTable
from lbh_platform.tascomi.locations import tascomi_table

SOURCES = ("tascomi", "alloy", "event_streams")


@dataclass(frozen=True)
class SnapshotTable:
    """One table's snapshots, its imports (days that may still need a snapshot) and the
    guard its lineage needs."""

    source: str
    table: str
    snapshots: PartitionedTable
    imports: Callable[[], list[str]]
    guard: Callable[[], Guard]

    @property
    def name(self) -> str:
        return f"{self.source}/{self.table}"


def _tascomi(lake: Lake) -> list[SnapshotTable]:
    from lbh_platform.tascomi import stages
    from lbh_platform.tascomi.tables import load_tables

    return [
        SnapshotTable(
            "tascomi",
            t.name,
            tascomi_table(lake, "snapshot", t.name),
            lambda t=t: tascomi_table(lake, "increment", t.name).partitions(),
            lambda t=t: lineage_guard(stages.snapshot_inputs(lake, t.name)),
        )
        for t in load_tables()
    ]


def _alloy(lake: Lake) -> list[SnapshotTable]:
    from lbh_platform.alloy import stages
    from lbh_platform.alloy.datasets import load_datasets

    return [
        SnapshotTable(
            "alloy",
            f"{d.name}/{t}",
            alloy_table(lake, "snapshot", d.name, t),
            lambda d=d, t=t: alloy_table(lake, "api_response", d.name, t).partitions(),
            lambda d=d, t=t: lineage_guard(stages.snapshot_inputs(lake, d, t)),
        )
        for d in load_datasets()
        for t in d.tables
    ]


def _event_streams(lake: Lake) -> list[SnapshotTable]:
    from lbh_platform.event_streams.inputs import BASE_KEY, Base
    from lbh_platform.event_streams.locations import stage_table
    from lbh_platform.event_streams.spec import load_event_streams

    def guard(table: PartitionedTable) -> Guard:
        def recorded(value: str) -> str | None:
            base = Base.parse(table.file_metadata(value).get(BASE_KEY, ":"))
            return base.value if base.stage == "snapshot" else None

        return recorded_base_guard(recorded)

    found = []
    for stream in load_event_streams():
        snapshots = stage_table(lake, stream, "snapshot")
        events = stage_table(lake, stream, "events")
        found.append(
            SnapshotTable(
                "event_streams",
                stream.name,
                snapshots,
                events.partitions,
                lambda snapshots=snapshots: guard(snapshots),
            )
        )
    return found


def snapshot_tables(lake: Lake, source: str | None = None) -> list[SnapshotTable]:
    builders = {"tascomi": _tascomi, "alloy": _alloy, "event_streams": _event_streams}
    chosen = [source] if source else list(SOURCES)
    return [t for name in chosen for t in builders[name](lake)]


def plan_table(table: SnapshotTable, config: RetentionConfig, today: date) -> RetentionPlan:
    policy = config.policy_for(table.source, table.table)
    snapshots = table.snapshots.partitions()
    building = missing_snapshots(table.imports(), snapshots)
    guard = table.guard() if policy.enabled and snapshots else None
    return plan_retention(snapshots, policy, today, building=building, guard=guard)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lbh_platform.cli.retention",
        description="Remove expired snapshot partitions (dry run by default).",
    )
    p.add_argument("source", nargs="?", choices=SOURCES, help="one source (default: all)")
    p.add_argument("--table", help="one table (Alloy: <dataset>/<table>)")
    p.add_argument("--today", type=date.fromisoformat, help="the date ages count from")
    p.add_argument("--config", help="a retention file (default: LBH_RETENTION_CONFIG)")
    p.add_argument("--apply", action="store_true", help="remove (default: only list)")
    p.add_argument("--verbose", action="store_true", help="list the snapshots kept too")
    p.add_argument("--who", default=None, help="who runs it (default: the OS user)")
    p.add_argument("--run-id", default=None, help="the Dagster run id, when run by one")
    return p


def run(
    argv: Sequence[str] | None = None,
    lake: Lake | None = None,
    say: Callable[[str], None] = print,
    complain: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
) -> int:
    """The command; ``say`` takes each line of the plan (a Dagster job passes its log)."""
    args = parser().parse_args(argv)
    today = args.today or datetime.now(UTC).date()
    try:
        config = load_retention(args.config)
        if lake is None:
            from lbh_platform.settings import load_settings

            lake = Lake.from_settings(load_settings())
        tables = snapshot_tables(lake, args.source)
        if args.table:
            tables = [t for t in tables if t.table == args.table]
            if not tables:
                raise ConfigurationError(f"no table {args.table!r} in {args.source or SOURCES}")
        audit = AuditLog.of(lake) if args.apply else None
        total = 0
        say(f"retention {'(applied)' if args.apply else '(dry run)'}, today {today}")
        for table in tables:
            plan = plan_table(table, config, today)
            if not plan.decisions:
                continue
            say(f"{table.name}: {plan.policy.describe()}")
            for decision in plan.decisions:
                if not decision.keep or args.verbose:
                    word = "keep  " if decision.keep else "remove"
                    say(f"  {word} {decision.value}  {decision.reason}")
            say(f"  keeps {len(plan.keep)}, removes {len(plan.delete)}")
            total += len(plan.delete)
            if args.apply and plan.delete:
                apply_retention(
                    table.snapshots,
                    plan,
                    name=table.name,
                    who=args.who or operator(),
                    run_id=args.run_id,
                    audit=audit,
                )
        if args.apply:
            say(f"{total} snapshot partition(s) removed")
        else:
            say(f"{total} snapshot partition(s) would be removed; --apply removes them")
        return 0
    except (ConfigurationError, DataError, CatalogError, OSError) as exc:
        complain(f"retention: {exc}")
        return 1


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
