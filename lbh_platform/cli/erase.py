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

What a source's stages are and where each holds the key is decided here for now (the
``*_targets`` functions; tests use them too): Tascomi by the record's id (raw responses:
inside each record's JSON text); Alloy by the root item's id, with its joined designs' rows
(``primary_item``); event streams by the entity's key or a nested field (``--column``), in
the raw event files, the initial state, events, quarantine, snapshots and deletions.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lbh_platform.alloy.locations import alloy_table
from lbh_platform.common.errors import ConfigurationError, DataError
from lbh_platform.erasure import (
    AuditLog,
    ErasureIncomplete,
    FileTarget,
    KeySet,
    Locator,
    Request,
    TableTarget,
    erase,
    erasure_salt,
    find,
    operator,
)
from lbh_platform.erasure.paths import FieldPath, Step, parse_path
from lbh_platform.erasure.targets import Target
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table

if TYPE_CHECKING:
    from lbh_platform.alloy.datasets import AlloyDataset
    from lbh_platform.event_streams.spec import EventStream

SOURCES = ("tascomi", "alloy", "event_streams")


# --------------------------------------------------------------------------- targets


def tascomi_targets(lake: Lake, table: str, path: str = "id") -> list[Target]:
    """A Tascomi table's four stages, by a top-level field of the record (its id)."""
    located = parse_path(path, f"tascomi {table} --column")
    if len(located.steps) != 1 or located.steps[0].each:
        raise ConfigurationError(
            f"tascomi {table}: erase by a top-level field of the record (such as id); the "
            f"parsed stages hold nested fields as JSON text, so {path!r} cannot be located"
        )
    column = Locator(located)
    return [
        TableTarget(
            "api_response", tascomi_table(lake, "api_response", table), Locator(located, table)
        ),
        TableTarget("parsed", tascomi_table(lake, "parsed", table), column, ("api_response",)),
        TableTarget("increment", tascomi_table(lake, "increment", table), column, ("parsed",)),
        TableTarget(
            "snapshot",
            tascomi_table(lake, "snapshot", table),
            column,
            ("increment",),
            cumulative=True,
        ),
    ]


def alloy_targets(lake: Lake, dataset_name: str) -> list[Target]:
    """An Alloy dataset's exports and snapshots, by the root item's id: the root table's rows
    and every joined design's rows of that item."""
    from lbh_platform.alloy.datasets import load_datasets
    from lbh_platform.alloy.stages import JOINED_ID, ROOT_ID

    dataset = next((d for d in load_datasets() if d.name == dataset_name), None)
    if dataset is None:
        raise ConfigurationError(f"no Alloy dataset named {dataset_name!r}")
    return alloy_dataset_targets(lake, dataset, ROOT_ID, JOINED_ID)


def alloy_dataset_targets(
    lake: Lake, dataset: "AlloyDataset", root_id: str, joined_id: str
) -> list[Target]:
    """The exports (joined tables first, as published) then the snapshots of ``dataset``."""

    def key(table: str, renamed: bool) -> Locator:
        column = root_id if table == dataset.name else joined_id
        if renamed:
            column = dataset.renames.get(table, {}).get(column, column)
        return Locator.of(column)

    order = [*dataset.joined_designs, dataset.name]  # the export publishes the root last
    exports: list[Target] = [
        TableTarget(
            f"api_response {table}",
            alloy_table(lake, "api_response", dataset.name, table),
            key(table, False),
        )
        for table in order
    ]
    snapshots: list[Target] = [
        TableTarget(
            f"snapshot {table}",
            alloy_table(lake, "snapshot", dataset.name, table),
            key(table, True),
            # A snapshot is built on the one before it and its table's exports (a joined
            # table's also on the root's): the proof wants it written after both.
            tuple(dict.fromkeys([f"api_response {table}", f"api_response {dataset.name}"])),
            cumulative=True,
        )
        for table in [dataset.name, *dataset.joined_designs]
    ]
    return exports + snapshots


def raw_event_path(stream: "EventStream", path: FieldPath) -> FieldPath:
    """A canonical field path as the raw events spell it (the Avro names, under the
    envelope's entity field): ``household_members[].id`` -> ``Tenure.HouseholdMembers[].Id``."""
    fields = stream.schema.fields
    steps = [Step(stream.entity_field)]
    for step in path.steps:
        found = next((f for f in fields if f.name == step.name), None)
        if found is None:
            raise ConfigurationError(
                f"{stream.label}: no field {step.name!r} at {path} (fields: "
                f"{', '.join(f.name for f in fields)})"
            )
        steps.append(Step(found.source_name, step.each))
        fields = found.fields
    return FieldPath(tuple(steps))


def event_stream_targets(lake: Lake, entity: str, path: str | None = None) -> list[Target]:
    """An event-streamed entity's stages, raw event files first, by its key or a field."""
    from lbh_platform.event_streams import inputs
    from lbh_platform.event_streams.locations import stage_table
    from lbh_platform.event_streams.sink import EventFiles
    from lbh_platform.event_streams.spec import stream_named

    stream = stream_named(entity)
    located = parse_path(path or stream.key, f"{stream.label} --column")
    raw = raw_event_path(stream, located)
    files = EventFiles(lake, stream.topic)
    column = Locator(located)

    def raw_files_now(value: str, notes: dict[str, str]) -> dict[str, str]:
        # The events partition records the raw files it was compacted from; after the
        # erasure removed or rewrote some, it records them as they are now (not stale).
        return inputs.raw_record(files.files(value))

    targets: list[Target] = [
        FileTarget("raw events", files, Locator(raw, remove=column.removes)),
        TableTarget("initial_state", stage_table(lake, stream, "initial_state"), column),
        TableTarget(
            "events",
            stage_table(lake, stream, "events"),
            column,
            ("raw events",),
            restate=raw_files_now,
        ),
        TableTarget(
            "events_quarantine",
            stage_table(lake, stream, "events_quarantine"),
            Locator(raw, "content", column.removes),
        ),
        TableTarget("snapshot", stage_table(lake, stream, "snapshot"), column),
    ]
    if str(located) == stream.key:
        targets.append(
            TableTarget("deletions", stage_table(lake, stream, "deletions"), Locator.of("id"))
        )
    return targets


def targets_for(lake: Lake, source: str, table: str, path: str | None) -> list[Target]:
    if source == "tascomi":
        return tascomi_targets(lake, table, path or "id")
    if source == "alloy":
        if path is not None:
            raise ConfigurationError("alloy: erasure is by the root item's id (no --column)")
        return alloy_targets(lake, table)
    if source == "event_streams":
        return event_stream_targets(lake, table, path)
    raise ConfigurationError(f"unknown source {source!r}; sources are {SOURCES}")


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
    p.add_argument("source", choices=SOURCES)
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


def run(argv: Sequence[str] | None = None, lake: Lake | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        keys = read_keys(args.key, args.keys_file)
        if lake is None:
            from lbh_platform.settings import load_settings

            lake = Lake.from_settings(load_settings())
        targets = targets_for(lake, args.source, args.table, args.column)
        if not args.apply:
            held = [h for found in find(targets, keys) for h in found]
            print(f"dry run: {len(keys)} key(s) in {args.source} {args.table}")
            for h in held:
                print(f"  {h.stage:<24} {h.partition}  {h.count} row(s)/file(s)  {h.location}")
            print(
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
            print(
                f"  {c.stage:<24} {c.partition}  {c.action:<11} rows removed {c.rows_removed}"
                f", elements {c.elements_removed}, files removed {c.files_removed}"
                f", rewritten {c.files_rewritten}"
            )
        print(
            f"erasure {report.erasure_id[:8]}: {report.rows_removed} row(s) removed from "
            f"{len(report.rewritten)} partition(s); verified: nothing holds the keys. Audit: "
            f"{', '.join(report.audit_entries)}"
        )
        return 0
    except ErasureIncomplete as exc:
        print(f"erase: {exc}", file=sys.stderr)
        return 1
    except (ConfigurationError, DataError, ValueError, OSError) as exc:
        print(f"erase: {exc}", file=sys.stderr)
        return 1


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
