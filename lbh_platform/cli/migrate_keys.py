"""Move an existing instance's asset records to the source contract's keys.

    python -m lbh_platform.cli.migrate_keys            # what would move (a dry run)
    python -m lbh_platform.cli.migrate_keys --apply    # record it

Asset keys now end in ``<table>_<stage>`` (``tascomi/snapshot/applications_snapshot``, was
``tascomi/snapshot/applications``), so a node in the graph names its table and its stage.
The data does not move (storage locations are unchanged); what an instance knows does: for
every partition materialised under an asset's previous key and not yet under its new one,
this reports a runless materialisation of the new key (metadata ``lbh.migrated_from``), so
the Partitions tab, backfills of missing partitions and freshness see published days as
published. Check history stays under the previous keys; each check runs again with the next
materialisation. Run it once per instance with ``DAGSTER_HOME`` set, after upgrading and
before starting the daemon. Safe to re-run: a partition already under its new key is skipped.
"""

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from lbh_platform.lib.sources import all_source_specs
from lbh_platform.lib.spec import asset_path, previous_asset_path


@dataclass(frozen=True)
class Move:
    old: dg.AssetKey
    new: dg.AssetKey
    partitions: tuple[str, ...]


def key_moves() -> list[tuple[dg.AssetKey, dg.AssetKey]]:
    """(previous key, key) of every asset whose key changed."""
    moves = []
    for spec in all_source_specs():
        for unit in spec.units:
            for asset in unit.assets:
                old = previous_asset_path(spec.name, unit, asset)
                new = asset_path(spec.name, unit, asset)
                if old != new:
                    moves.append((dg.AssetKey(list(old)), dg.AssetKey(list(new))))
    return moves


def plan(instance: dg.DagsterInstance) -> list[Move]:
    planned = []
    for old, new in key_moves():
        done = instance.get_materialized_partitions(old)
        if not done:
            continue
        already = instance.get_materialized_partitions(new)
        todo = tuple(sorted(done - already))
        if todo:
            planned.append(Move(old, new, todo))
    return planned


def apply(instance: dg.DagsterInstance, moves: Sequence[Move]) -> int:
    reported = 0
    for move in moves:
        for partition in move.partitions:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    move.new,
                    partition=partition,
                    metadata={"lbh.migrated_from": move.old.to_user_string()},
                )
            )
            reported += 1
    return reported


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apply", action="store_true", help="record the moves (else list)")
    args = parser.parse_args(argv)
    instance = dg.DagsterInstance.get()  # DAGSTER_HOME's instance: refuses an ephemeral one
    moves = plan(instance)
    for move in moves:
        print(
            f"{move.old.to_user_string()} -> {move.new.to_user_string()}: "
            f"{len(move.partitions)} partitions ({move.partitions[0]} .. {move.partitions[-1]})"
        )
    total = sum(len(m.partitions) for m in moves)
    if not args.apply:
        print(f"{total} partitions of {len(moves)} assets would move; --apply records them")
        return 0
    print(f"recorded {apply(instance, moves)} partitions of {len(moves)} assets under new keys")
    return 0


if __name__ == "__main__":
    sys.exit(main())
