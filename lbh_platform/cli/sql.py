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

Read-only in fact, not only in name: each statement is checked with DuckDB's own parser and
only reading ones run (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, VALUES, EXPLAIN of a query);
and every connection may touch files only in the configured zones (``allowed_directories``
with ``enable_external_access = false``, then ``lock_configuration``), so no query can write a
file, read credentials, attach a database or load an extension. The folders come from the
settings only, never from the catalogue file: a view planted in it cannot widen them.

Masked views: a table with personal data declared has ``<table>_masked`` beside it, without
those columns (or with them hashed); ``.tables`` names them. They are ordinary views: read
them like any table.

Bounded: memory, threads (set before the configuration is locked) and each statement's time
(a timer interrupts it) have limits from ``LBH_SQL_MEMORY_LIMIT``, ``LBH_SQL_THREADS`` and
``LBH_SQL_TIMEOUT_SECONDS`` (:func:`sql_limits`); a statement over one stops with a one-line
error saying which.
"""

import argparse
import contextlib
import csv
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import duckdb

from lbh_platform import settings_registry as registry
from lbh_platform.catalog.duckdb_catalog import is_local, quote_literal
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.settings import duckdb_path, zone_roots

# Each table with personal data declared has a masked view beside it (``<table>_masked``,
# docs/PERSONAL_DATA.md): ``.tables`` says which, so an analyst who needs counts uses it.
TABLES_SQL = (
    "select t.table_schema as database, t.table_name as table, case "
    "when exists (select 1 from information_schema.tables m where m.table_catalog = "
    "t.table_catalog and m.table_schema = t.table_schema and m.table_name = t.table_name || "
    "'_masked') then 'holds personal data: ' || t.table_name || '_masked is without it' "
    "when t.table_name like '%\\_masked' escape '\\' then 'masked: no personal data' "
    "else '' end as personal_data "
    "from information_schema.tables t where t.table_catalog = current_database() order by all"
)
HELP = """Statements end with ';'. Commands:
  .tables              databases and tables; <table>_masked views leave out personal data
  .describe DB.TABLE   columns of a table, e.g.
                       .describe "dataplatform-stg-tascomi-refined-zone"."applications"
  .help  .quit"""


READING_STATEMENTS = "SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, VALUES and EXPLAIN <query>"
_EXPLAIN_WORDS = {"explain", "analyze", "analyse"}


class CatalogueUnavailable(Exception):
    """The catalogue file is missing, or stays locked by a writer."""


class StatementRefused(Exception):
    """A statement that would do more than read; nothing of the input was run."""


class StatementStopped(Exception):
    """A statement went over a limit (time or memory) and was stopped."""


# Errors the command line shows as one line (``error: ...``), never as a traceback.
SHOWN_ERRORS = (
    duckdb.Error,
    CatalogueUnavailable,
    StatementRefused,
    StatementStopped,
    ConfigurationError,
)


_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


@dataclass(frozen=True)
class SqlLimits:
    """What one SQL session may use: DuckDB's ``memory_limit`` and ``threads``, and the
    seconds a statement may run before it is interrupted."""

    memory_limit: str = "2GB"
    threads: int = 2
    timeout_seconds: float = 300.0


def sql_limits(environ: Mapping[str, str] | None = None) -> SqlLimits:
    """The limits from ``LBH_SQL_MEMORY_LIMIT``, ``LBH_SQL_THREADS`` and
    ``LBH_SQL_TIMEOUT_SECONDS`` (defaults: :class:`SqlLimits`); a bad value names its variable."""
    env = registry.environ(environ)
    default = SqlLimits()
    memory = (env.get("LBH_SQL_MEMORY_LIMIT") or default.memory_limit).strip()
    if not _MEMORY.match(memory):
        raise ConfigurationError(
            f"LBH_SQL_MEMORY_LIMIT must be a size such as 2GB or 512MB, got {memory[:40]!r}"
        )
    threads_text = (env.get("LBH_SQL_THREADS") or str(default.threads)).strip()
    if not threads_text.isdigit() or int(threads_text) < 1:
        raise ConfigurationError(
            f"LBH_SQL_THREADS must be a whole number >= 1, got {threads_text[:40]!r}"
        )
    timeout_text = (env.get("LBH_SQL_TIMEOUT_SECONDS") or str(default.timeout_seconds)).strip()
    try:
        timeout = float(timeout_text)
    except ValueError:
        timeout = 0.0
    if not 0 < timeout < float("inf"):
        raise ConfigurationError(
            f"LBH_SQL_TIMEOUT_SECONDS must be a number of seconds > 0, got {timeout_text[:40]!r}"
        )
    return SqlLimits(memory, int(threads_text), timeout)


def _explained_is_query(statement: str) -> bool:
    """``EXPLAIN [ANALYZE] <x>``: true when ``x`` is one reading query (ANALYZE runs it)."""
    for start, kind in duckdb.tokenize(statement):
        if kind == duckdb.token_type.comment:
            continue
        word = statement[start:].split(None, 1)[0].lower()
        if kind == duckdb.token_type.keyword and word in _EXPLAIN_WORDS:
            continue
        try:
            inner = duckdb.extract_statements(statement[start:])
        except duckdb.Error:
            return False
        return len(inner) == 1 and inner[0].type == duckdb.StatementType.SELECT
    return False


def reading_statements(text: str) -> list[str]:
    """The statements in ``text`` if every one only reads; otherwise refuse them all.

    Parsed by DuckDB itself, so comments, quoting and several statements on one line cannot
    hide a write. A syntax error is DuckDB's own ``ParserException``.
    """
    statements = duckdb.extract_statements(text)
    if not statements:
        raise StatementRefused("no statement to run")
    for number, statement in enumerate(statements, start=1):
        kind = statement.type
        allowed = kind == duckdb.StatementType.SELECT or (
            kind == duckdb.StatementType.EXPLAIN and _explained_is_query(statement.query)
        )
        if not allowed:
            shown = " ".join(statement.query.split())
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            where = f"statement {number} of {len(statements)}" if len(statements) > 1 else ""
            raise StatementRefused(
                f"refused {where + ' ' if where else ''}({kind.name}: {shown!r}): the "
                f"catalogue is read-only; only {READING_STATEMENTS} run here. Nothing was run."
            )
    return [statement.query for statement in statements]


def allowed_directories(environ: Mapping[str, str] | None = None) -> list[str]:
    """Where a session may read: the configured zones, and nothing the catalogue file says."""
    folders: set[str] = set()
    for place in zone_roots(environ):
        if is_local(place):
            local = place.removeprefix("file://")
            folders.update({os.path.abspath(local), os.path.realpath(local)})
        else:
            folders.add(place)
    return sorted(folder.rstrip("/") + "/" for folder in folders)


def _lock_down(connection: duckdb.DuckDBPyConnection, limits: SqlLimits) -> None:
    """Limits set, files only in the zones, then no further configuration change."""
    folders = allowed_directories()
    try:
        connection.execute(f"SET memory_limit = {quote_literal(limits.memory_limit)}")
        connection.execute(f"SET threads = {limits.threads}")
        connection.execute(
            f"SET allowed_directories = [{', '.join(map(quote_literal, folders))}]::VARCHAR[]"
        )
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
    except duckdb.InvalidInputException:
        # Another connection of this process to the same file locked the shared instance.
        locked = connection.execute(
            "select current_setting('enable_external_access'), "
            "current_setting('lock_configuration')"
        ).fetchone()
        if locked != (False, True):
            raise


def connect(
    path: str | None = None, *, wait: float = 5.0, limits: SqlLimits | None = None
) -> duckdb.DuckDBPyConnection:
    """A read-only, locked-down connection to the catalogue, waiting up to ``wait`` s for a
    writer. File access is limited to the zones; memory and threads to ``limits`` (default
    :func:`sql_limits`). The statement timeout applies in :func:`run_statement`."""
    limits = limits or sql_limits()
    path = path or duckdb_path()
    if not Path(path).exists():
        raise CatalogueUnavailable(
            f"no local catalogue at {path} yet: materialise something on local zones first "
            "(e.g. `make run`), or set LBH_DUCKDB_PATH"
        )
    deadline = time.monotonic() + wait
    while True:
        try:
            connection = duckdb.connect(
                path,
                read_only=True,
                config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
            )
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise CatalogueUnavailable(
                    f"the catalogue {path} is being updated by a pipeline run; try again"
                ) from None
            time.sleep(0.1)
            continue
        try:
            _lock_down(connection, limits)
        except BaseException:
            connection.close()
            raise
        return connection


@contextlib.contextmanager
def _bounded(connection: duckdb.DuckDBPyConnection, limits: SqlLimits) -> Iterator[None]:
    """Interrupt the statement after ``limits.timeout_seconds``; name a limit that stopped it."""
    fired = threading.Event()

    def interrupt() -> None:
        fired.set()
        connection.interrupt()

    timer = threading.Timer(limits.timeout_seconds, interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    except duckdb.InterruptException:
        if not fired.is_set():
            raise
        raise StatementStopped(
            f"statement stopped after {limits.timeout_seconds:g} s, the limit "
            "(LBH_SQL_TIMEOUT_SECONDS); narrow it or raise the limit"
        ) from None
    except duckdb.OutOfMemoryException as exc:
        cause = str(exc).splitlines()[0] if str(exc) else "out of memory"
        raise StatementStopped(
            f"statement stopped: it needs more memory than the limit of {limits.memory_limit} "
            f"(LBH_SQL_MEMORY_LIMIT); narrow it or raise the limit ({cause})"
        ) from None
    finally:
        timer.cancel()


def run_statement(
    path: str, statement: str, *, out: TextIO, as_csv: bool = False, max_rows: int = 40
) -> None:
    """Run reading statements on a fresh locked-down connection and print each result.

    Every statement is checked before any runs (:func:`reading_statements`); each is bounded
    by :func:`sql_limits`."""
    statements = reading_statements(statement)
    limits = sql_limits()
    with connect(path, limits=limits) as connection:
        for text in statements:
            try:
                with _bounded(connection, limits):
                    _show(connection, text, out=out, as_csv=as_csv, max_rows=max_rows)
            except duckdb.PermissionException as exc:
                outside = _views_outside_zones(connection)
                if not outside:
                    raise
                names = ", ".join(outside[:3]) + (", ..." if len(outside) > 3 else "")
                cause = (str(exc).splitlines() or [""])[0]
                raise duckdb.PermissionException(
                    f"{cause} (the catalogue's views {names} read outside the "
                    "zones this session may read: set LBH_RAW_ZONE and LBH_REFINED_ZONE as for "
                    "the runs that wrote them)"
                ) from None


def _views_outside_zones(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """Views whose definition names no configured zone, so they cannot resolve here: a hint
    for the error, never a reason to allow anything."""
    zones = allowed_directories()
    views = connection.execute(
        "select schema_name, view_name, sql from duckdb_views() "
        "where not internal and sql is not null order by all"
    ).fetchall()
    return [f"{schema}.{view}" for schema, view, sql in views if not any(z in sql for z in zones)]


def _show(
    connection: duckdb.DuckDBPyConnection, text: str, *, out: TextIO, as_csv: bool, max_rows: int
) -> None:
    relation = connection.sql(text)
    if relation is None:
        return
    if as_csv:
        rows = relation.fetchall()  # first: a statement stopped half-way prints nothing
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(relation.columns)
        writer.writerows(rows)
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
            except SHOWN_ERRORS as exc:
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
            except SHOWN_ERRORS as exc:
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
    path = args.db or duckdb_path()
    try:
        if args.query is None:
            interactive(path, out=out)
        else:
            run_statement(path, args.query, out=out, as_csv=args.csv, max_rows=args.max_rows)
    except SHOWN_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
