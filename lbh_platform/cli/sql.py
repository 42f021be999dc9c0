"""SQL over the local catalogue: the playbook's Athena queries, run against the local lake.

    python -m lbh_platform.cli.sql \
        'select count(*) from "dataplatform-stg-tascomi-refined-zone"."applications"'
    python -m lbh_platform.cli.sql            # interactive; end statements with ';'
    python -m lbh_platform.cli.sql --csv 'select ...' > out.csv

The catalogue is the DuckDB file the pipelines keep current (``LBH_DUCKDB_PATH``, default
``catalog.duckdb`` next to the raw zone, i.e. ``./data/catalog.duckdb``). Every statement opens
the file read-only and closes it straight after, so a pipeline run can keep registering
tables while a session is open (the catalogue is one-writer-at-a-time). Python users:
``from lbh_platform.cli.sql import connect``.
"""

import argparse
import contextlib
import csv
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import duckdb

from lbh_platform.settings import duckdb_path

TABLES_SQL = (
    "select table_schema as database, table_name as table from information_schema.tables "
    "where table_catalog = current_database() order by all"
)
HELP = """Statements end with ';'. Commands:
  .tables              databases and tables
  .describe DB.TABLE   columns of a table, e.g.
                       .describe "dataplatform-stg-tascomi-refined-zone"."applications"
  .help  .quit"""


class CatalogueUnavailable(Exception):
    """The catalogue file is missing, or stays locked by a writer."""


def connect(path: str | None = None, *, wait: float = 5.0) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalogue, waiting up to ``wait`` s for a writer."""
    path = path or duckdb_path()
    if not Path(path).exists():
        raise CatalogueUnavailable(
            f"no local catalogue at {path} yet: materialise something on local zones first "
            "(e.g. `make run`), or set LBH_DUCKDB_PATH"
        )
    deadline = time.monotonic() + wait
    while True:
        try:
            return duckdb.connect(path, read_only=True)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise CatalogueUnavailable(
                    f"the catalogue {path} is being updated by a pipeline run; try again"
                ) from None
            time.sleep(0.1)


def run_statement(
    path: str, statement: str, *, out: TextIO, as_csv: bool = False, max_rows: int = 40
) -> None:
    """Run one statement on a fresh read-only connection and print its result."""
    with connect(path) as connection:
        relation = connection.sql(statement)
        if relation is None:
            return
        if as_csv:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(relation.columns)
            writer.writerows(relation.fetchall())
            return
        width = shutil.get_terminal_size((160, 24)).columns
        with contextlib.redirect_stdout(out):  # show() prints to sys.stdout
            relation.show(max_rows=max_rows, max_width=width)


def _command(path: str, line: str, out: TextIO) -> bool:
    """Run a dot-command; False means quit."""
    name, _, argument = line.partition(" ")
    if name in (".quit", ".exit"):
        return False
    if name == ".tables":
        run_statement(path, TABLES_SQL, out=out, max_rows=10_000)
    elif name == ".describe" and argument.strip():
        run_statement(path, f"describe {argument.strip().rstrip(';')}", out=out, max_rows=10_000)
    else:
        out.write(HELP + "\n")
    return True


def interactive(path: str, *, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> None:
    """A small REPL: multi-line statements ending with ';', dot-commands, errors shown."""
    prompting = stdin.isatty()
    if prompting:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (line editing and history where available)
        out.write(f"lbh_platform SQL on {path}\n{HELP}\n")
    buffer: list[str] = []
    while True:
        if prompting:
            out.write("sql> " if not buffer else "...> ")
            out.flush()
        line = stdin.readline()
        if not line:
            break
        stripped = line.strip()
        if not buffer and stripped.startswith("."):
            try:
                if not _command(path, stripped, out):
                    break
            except (duckdb.Error, CatalogueUnavailable) as exc:
                out.write(f"error: {exc}\n")
            continue
        buffer.append(line)
        if stripped.endswith(";"):
            statement = "".join(buffer).strip().rstrip(";")
            buffer.clear()
            if not statement:
                continue
            try:
                run_statement(path, statement, out=out)
            except (duckdb.Error, CatalogueUnavailable) as exc:
                out.write(f"error: {exc}\n")


def main(argv: Sequence[str] | None = None, *, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lbh_platform.cli.sql",
        description="SQL over the local catalogue (the Glue database and table names).",
    )
    parser.add_argument("query", nargs="?", help="one statement; none: interactive")
    parser.add_argument(
        "--db", help="catalogue file (default: LBH_DUCKDB_PATH or next to the raw zone)"
    )
    parser.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    parser.add_argument("--max-rows", type=int, default=40, help="rows shown in a table")
    args = parser.parse_args(argv)
    path = args.db or duckdb_path(os.environ)
    try:
        if args.query is None:
            interactive(path, out=out)
        else:
            run_statement(path, args.query, out=out, as_csv=args.csv, max_rows=args.max_rows)
    except (duckdb.Error, CatalogueUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
