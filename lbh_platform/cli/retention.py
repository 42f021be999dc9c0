"""Snapshot retention: list what would be removed (the default), or remove it (``--apply``).

    python -m lbh_platform.cli.retention                     # every source, a dry run
    python -m lbh_platform.cli.retention tascomi --table applications
    python -m lbh_platform.cli.retention --apply --today 2024-06-30

Each table's policy comes from ``config/retention.yaml`` (or ``LBH_RETENTION_CONFIG``, or
``--config``). Only snapshot partitions are removed, from the zone, Glue and the local
catalogue; a table always keeps its newest snapshot, the base of any snapshot still to be
built and what its lineage proof needs. ``--apply`` appends what it removed to the audit log
(``<refined zone>/lbh-audit/retention/``). See docs/RETENTION.md.

Which tables a source has comes from its spec (``SourceSpec.housekeeping``), so a new source
is retained by the same policy without a change here.
"""

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

from lbh_platform.catalog.base import CatalogError
from lbh_platform.common.errors import ConfigurationError, DataError
from lbh_platform.erasure import AuditLog, operator
from lbh_platform.lib.sources import all_source_specs
from lbh_platform.retention import (
    RetentionConfig,
    RetentionPlan,
    apply_retention,
    load_retention,
    missing_snapshots,
    plan_retention,
)
from lbh_platform.retention.tables import SnapshotTable
from lbh_platform.storage.lake import Lake


def snapshot_tables(lake: Lake, source: str | None = None) -> list[SnapshotTable]:
    """Every source's snapshot tables (from its spec's housekeeping), or one source's."""
    tables = [
        t
        for spec in all_source_specs()
        if spec.housekeeping is not None
        for t in spec.housekeeping.snapshot_tables(lake)
    ]
    if source is None:
        return tables
    chosen = [t for t in tables if t.source == source]
    if not chosen:
        known = sorted({t.source for t in tables})
        raise ConfigurationError(f"unknown source {source!r}; sources are {known}")
    return chosen


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
    p.add_argument(
        "source", nargs="?", help="one source: tascomi, alloy, event_streams… (default: all)"
    )
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
                where = args.source or "any source"
                raise ConfigurationError(f"no table {args.table!r} in {where}")
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
