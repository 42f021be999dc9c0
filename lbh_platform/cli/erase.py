"""Erase a person's records from every stage of a table: a dry run unless ``--apply``.

    python -m lbh_platform.cli.erase tascomi applications --keys-file ids.txt
    python -m lbh_platform.cli.erase tascomi applications --keys-file ids.txt --apply
    python -m lbh_platform.cli.erase alloy graffiti --key 5f3c... --apply
    python -m lbh_platform.cli.erase event_streams tenure --column household_members[].id \
        --keys-file - --apply --reference DPR-1234 < person-ids.txt

Keys are read from ``--keys-file`` (one per line; ``-`` for standard input) or ``--key``
(which a shell keeps in its history: prefer the file). A dry run lists every partition that
holds them and how many rows; ``--apply`` rewrites them (each atomically), verifies that none
holds them any more and records an audit entry (who, when, rows per partition, a salted hash
of each key: ``LBH_ERASURE_SALT`` must be set). Nothing printed or recorded holds a key.

What a source's stages are and where each holds the key comes from its spec
(``SourceSpec.housekeeping``): Tascomi by the record's id (raw responses: inside each
record's JSON text); Alloy by the root item's id, with its joined designs' rows
(``primary_item``); event streams by the entity's key or a nested field (``--column``), in
the raw event files, the initial state, events, quarantine, snapshots and deletions. Every
table's history (and the snapshot changes it is kept from) is erased too.
"""

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lbh_platform.common.errors import ConfigurationError, DataError
from lbh_platform.erasure import (
    AuditLog,
    ErasureIncomplete,
    KeySet,
    Request,
    erase,
    erasure_salt,
    find,
    operator,
)
from lbh_platform.erasure.targets import Target
from lbh_platform.lib.sources import all_source_specs
from lbh_platform.lib.spec import Housekeeping
from lbh_platform.storage.lake import Lake


def housekeeping_of(source: str, table: str) -> Housekeeping:
    """The housekeeping of the source (by its spec's housekeeping name) that has ``table``."""
    found = [s.housekeeping for s in all_source_specs() if s.housekeeping is not None]
    named = [h for h in found if h.name == source]
    if not named:
        known = sorted({h.name for h in found})
        raise ConfigurationError(f"unknown source {source!r}; sources are {known}")
    for housekeeping in named:
        if table in housekeeping.tables:
            return housekeeping
    tables = sorted(t for h in named for t in h.tables)
    raise ConfigurationError(f"{source} has no table {table!r}; its tables are {tables}")


def targets_for(lake: Lake, source: str, table: str, path: str | None) -> list[Target]:
    return list(housekeeping_of(source, table).erasure_targets(lake, table, path))


# --------------------------------------------------------------------------- command


def read_keys(values: Sequence[str], keys_file: str | None) -> KeySet:
    keys = list(values)
    if keys_file is not None:
        text = sys.stdin.read() if keys_file == "-" else Path(keys_file).read_text()
        keys += [line.strip() for line in text.splitlines() if line.strip()]
    if not keys:
        raise ConfigurationError("give the keys to erase: --keys-file FILE (or -) or --key")
    return KeySet(keys)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lbh_platform.cli.erase",
        description="Erase records by key from every stage of a table (dry run by default).",
    )
    p.add_argument("source", help="tascomi, alloy or event_streams (a source's housekeeping name)")
    p.add_argument("table", help="Tascomi table, Alloy dataset or event-streamed entity")
    p.add_argument("--key", action="append", default=[], help="a key value (repeatable)")
    p.add_argument("--keys-file", help="a file of key values, one per line ('-': stdin)")
    p.add_argument("--column", help="where the key is: a field path (default: the table's id)")
    p.add_argument("--apply", action="store_true", help="erase (default: only list)")
    p.add_argument("--who", default=None, help="who asks (default: the OS user)")
    p.add_argument("--run-id", default=None, help="the Dagster run id, when run by one")
    p.add_argument("--reference", default=None, help="a ticket reference (never the values)")
    p.add_argument(
        "--allow-unsound",
        action="store_true",
        help="erase even where a partition is already older than its inputs (rebuild it after)",
    )
    return p


def run(
    argv: Sequence[str] | None = None,
    lake: Lake | None = None,
    say: Callable[[str], None] = print,
    complain: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
) -> int:
    """The command; ``say`` takes each line of output (a Dagster job passes its log)."""
    args = parser().parse_args(argv)
    try:
        keys = read_keys(args.key, args.keys_file)
        if lake is None:
            from lbh_platform.settings import load_settings

            lake = Lake.from_settings(load_settings())
        targets = targets_for(lake, args.source, args.table, args.column)
        if not args.apply:
            held = [h for found in find(targets, keys) for h in found]
            say(f"dry run: {len(keys)} key(s) in {args.source} {args.table}")
            for h in held:
                say(f"  {h.stage:<24} {h.partition}  {h.count} row(s)/file(s)  {h.location}")
            say(
                f"{len(held)} partition(s) hold them; --apply erases them"
                if held
                else "no partition holds them"
            )
            return 0
        salt = erasure_salt()
        request = Request(
            args.source, args.table, args.who or operator(), args.run_id, args.reference
        )
        report = erase(
            request,
            targets,
            keys,
            audit=AuditLog.of(lake),
            salt=salt,
            allow_unsound=args.allow_unsound,
        )
        for c in report.changes:
            say(
                f"  {c.stage:<24} {c.partition}  {c.action:<11} rows removed {c.rows_removed}"
                f", elements {c.elements_removed}, files removed {c.files_removed}"
                f", rewritten {c.files_rewritten}"
            )
        say(
            f"erasure {report.erasure_id[:8]}: {report.rows_removed} row(s) removed from "
            f"{len(report.rewritten)} partition(s); verified: nothing holds the keys. Audit: "
            f"{', '.join(report.audit_entries)}"
        )
        return 0
    except ErasureIncomplete as exc:
        complain(f"erase: {exc}")
        return 1
    except (ConfigurationError, DataError, ValueError, OSError) as exc:
        complain(f"erase: {exc}")
        return 1


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
