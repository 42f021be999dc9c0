"""Probe a Tascomi resource before adding it as a table; optionally add it.

    python -m lbh_platform.cli.probe site_visits             # report and print the config
    python -m lbh_platform.cli.probe site_visits --write     # ... and add it to the files
    python -m lbh_platform.cli.probe site_visits --pages 20 --cadence weekly

The API and keys come from the environment as for the pipelines (``TASCOMI_API_URL``,
``TASCOMI_PUBLIC_KEY``/``TASCOMI_PRIVATE_KEY`` or ``TASCOMI_SECRET_ID``); with
``TASCOMI_API_URL`` unset, the built-in simulator that ``make dev`` / ``make run`` is running
for this ``DAGSTER_HOME`` (default ``./.dagster_home``), on whatever port it got. The files
come from ``LBH_TASCOMI_TABLES_FILE`` / ``LBH_TASCOMI_COLUMN_TYPES_FILE`` (default: the
shipped ones). Problems end with a one-line message and exit status 1, never a traceback.
"""

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from lbh_platform import settings_registry as registry
from lbh_platform.cli.simulator_state import find_running, local_home
from lbh_platform.common.credentials import resolved_keys
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.http import RetryPolicy
from lbh_platform.settings import load_settings
from lbh_platform.tascomi.client import TascomiClient
from lbh_platform.tascomi.column_types import DEFAULT_CATALOGUE_FILE, ColumnTypeCatalogue
from lbh_platform.tascomi.config_files import ConfigEditError, add_table
from lbh_platform.tascomi.probe import (
    DEFAULT_PAGES,
    ProbeError,
    check_name,
    counting_session,
    probe,
    render,
)
from lbh_platform.tascomi.settings import (
    SIMULATOR_PRIVATE_KEY,
    SIMULATOR_PUBLIC_KEY,
    TascomiSettings,
    load_tascomi_settings,
)
from lbh_platform.tascomi.tables import DEFAULT_TABLES_FILE, load_table_list, table_name_problem

# A person is waiting: fail within seconds, not after the pipelines' patient retries.
PROBE_POLICY = RetryPolicy(max_attempts=3, backoff_base=0.5, backoff_max=4.0, read_timeout=60.0)


def probe_policy(settings: TascomiSettings) -> RetryPolicy:
    """The probe's retries, with the pipelines' deadline and body limit (the same settings)."""
    return replace(
        PROBE_POLICY,
        deadline=settings.request_deadline_seconds,
        max_body_bytes=int(settings.max_body_mb * 1_000_000),
    )


def config_files() -> tuple[Path, Path]:
    """The table list and catalogue the pipelines load (same variables, same defaults)."""
    tables = Path(registry.get("LBH_TASCOMI_TABLES_FILE") or DEFAULT_TABLES_FILE)
    types = Path(registry.get("LBH_TASCOMI_COLUMN_TYPES_FILE") or DEFAULT_CATALOGUE_FILE)
    return tables, types


def probe_settings() -> TascomiSettings:
    """The pipelines' settings; with ``TASCOMI_API_URL`` unset, pointed at the simulator
    running for this ``DAGSTER_HOME`` (its port may not be the default one)."""
    if registry.get("TASCOMI_API_URL"):
        return load_tascomi_settings()
    home = local_home()
    running = find_running(home)
    if running is None:
        raise ConfigurationError(
            f"TASCOMI_API_URL is not set and no built-in simulator is running for {home}: "
            "start `make dev` (or `make run`) in this folder, or set TASCOMI_API_URL and the "
            "keys to probe the real API"
        )
    print(
        f"probe: using the built-in simulator at {running.tascomi_url} (running for {home}, "
        f"process {running.pid}); set TASCOMI_API_URL for the real API",
        file=sys.stderr,
    )
    environ = {k: v for k, v in registry.process_environment().items() if k != "TASCOMI_SECRET_ID"}
    environ.update(
        TASCOMI_API_URL=running.tascomi_url,
        TASCOMI_PUBLIC_KEY=SIMULATOR_PUBLIC_KEY,
        TASCOMI_PRIVATE_KEY=SIMULATOR_PRIVATE_KEY,
    )
    return load_tascomi_settings(environ)


def keys(settings: TascomiSettings) -> tuple[str, str]:
    found = resolved_keys(settings.access, load_settings().aws_region)
    return found["public_key"], found["private_key"]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lbh_platform.cli.probe",
        description="Probe a Tascomi API resource and print (or --write) the configuration "
        "that adds it as a table.",
    )
    parser.add_argument("resource", help="the API resource, also the table name")
    parser.add_argument(
        "--pages",
        type=int,
        default=DEFAULT_PAGES,
        help=f"pages to sample (default {DEFAULT_PAGES})",
    )
    parser.add_argument("--cadence", choices=("daily", "weekly"), help="override the cadence hint")
    parser.add_argument(
        "--write",
        action="store_true",
        help="add the entry to the table list and the block to the catalogue",
    )
    return parser


def run(argv: Sequence[str] | None = None, *, now: datetime | None = None) -> int:
    """The command; returns the exit status (tests call it directly)."""
    args = parser().parse_args(argv)
    tables_file, catalogue_file = config_files()
    session, total = counting_session()
    try:
        check_name(args.resource)
        problem = table_name_problem(args.resource) if args.write else None
        if problem:  # refused before any request, as the table list would refuse it
            raise ConfigurationError(f"--write: a table name {problem}; nothing written")
        catalogue = ColumnTypeCatalogue.load(catalogue_file)
        table_list = load_table_list(tables_file)
        settings = probe_settings()
        public, private = keys(settings)
        with TascomiClient(
            settings.access.url,
            public,
            private,
            policy=probe_policy(settings),
            session=session,
        ) as client:
            report = probe(
                client,
                args.resource,
                catalogue,
                pages=args.pages,
                now=now,
                total=total,
                listed=[table.name for table in table_list.tables],
                paused=table_list.paused,
            )
        if args.cadence:
            report = replace(report, spread=replace(report.spread, cadence=args.cadence))
        print(render(report, str(tables_file), str(catalogue_file)))
        if args.write:
            edit = add_table(tables_file, catalogue_file, report.table_entry, report.typed_columns)
            moved = f": moved {args.resource} from 'paused:' to 'tables:'" if edit.resumed else ""
            print(f"\nwrote {tables_file} (line {edit.tables_line}){moved}")
            if edit.catalogue_line is not None:
                print(f"wrote {catalogue_file} (line {edit.catalogue_line})")
            print("Reload definitions (or restart) to see its assets; backfill its history.")
    except (ProbeError, ConfigEditError, ConfigurationError) as exc:
        print(f"probe: {exc}", file=sys.stderr)
        return 1
    finally:
        session.close()
    return 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
