"""Fault injection, bad input and crashes: each gets its documented behaviour, counts appear in
metadata, and nothing already written is lost or corrupted."""

import json
import multiprocessing
import os
from datetime import date, timedelta

import pyarrow as pa
import pytest

from lbh_platform.common.errors import ConfigurationError, DataError
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi import stages
from lbh_platform.tascomi.client import Page
from lbh_platform.tascomi.column_types import ColumnTypeCatalogue
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform.tascomi.quality import uniqueness
from lbh_platform.tascomi.tables import TascomiTable, load_tables

pytestmark = pytest.mark.faults
TABLE = TascomiTable("appeals")
TYPES = {
    "id": "integer",
    "last_updated": "timestamp",
    "n": "integer",
    "flag": "boolean",
    "when": "timestamp",
    "amount": "float",
}
D1, D2, D3 = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)


@pytest.fixture()
def lake(tmp_path):
    return Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})


def fetch_of(pages_by_day):
    def fetch(resource, last_updated, held_records=None):
        return pages_by_day.get(last_updated, pages_by_day.get("all", []))

    return fetch


def record(i, day, **extra):
    return {
        "id": str(i),
        "last_updated": f"{day} 10:00:00",
        "n": str(i),
        "flag": "t",
        "when": f"{day} 09:00:00",
        "amount": "1.5",
        **extra,
    }


def run(lake, day, pages):
    reports = [
        stages.ingest(lake, TABLE, day, fetch_of(pages)),
        stages.parse(lake, TABLE, day),
        stages.refine(lake, TABLE, day, TYPES),
        stages.snapshot(lake, TABLE, day),
    ]
    return {r.stage: r for r in reports}


def snapshot_rows(lake, day):
    table = tascomi_table(lake, "snapshot", "appeals").read(day.strftime("%Y%m%d"))
    return {r["id"]: r for r in table.to_pylist()}


def test_records_without_id_or_last_updated(lake, faults):
    y = D1 - timedelta(1)
    no_id = {"last_updated": f"{y} 01:00:00"}
    pages = {"all": [Page(1, "u1", 200, [record(1, y)]), Page(2, "u2", 200, [no_id])]}
    # No id: it could never reach a snapshot row, so the partition is refused at ingest.
    with pytest.raises(DataError, match=r"appeals partition 20240304 page 2 \(u2\): record 1"):
        stages.ingest(lake, TABLE, D1, fetch_of(pages))
    assert tascomi_table(lake, "api_response", "appeals").partitions() == []
    # No last_updated: kept (null counts as oldest when deduplicating).
    pages = {"all": [Page(1, "u", 200, [record(1, y), {"id": "3", "n": "3"}])]}
    reports = run(lake, D1, pages)
    assert reports["snapshot"].metadata["rows_without_id_skipped"] == 0
    assert set(snapshot_rows(lake, D1)) == {1, 3}
    faults.record(2, survived=True)


def test_duplicates_across_pages_and_unparseable_values_are_counted(lake, faults):
    y = D1 - timedelta(1)
    same = record(1, y)
    bad = record(2, y, n="twelve", flag="maybe", when="yesterday", amount="1,5")
    pages = {"all": [Page(1, "u", 200, [same, bad]), Page(2, "u", 200, [same])]}
    reports = run(lake, D1, pages)
    assert reports["parsed"].metadata["exact_duplicate_records_dropped"] == 1
    assert reports["increment"].metadata["cast_failures_by_column"] == {
        "n": 1,
        "flag": 1,
        "when": 1,
        "amount": 1,
    }
    assert stages.cast_failures(lake, "appeals", "20240304") == {
        "n": 1,
        "flag": 1,
        "when": 1,
        "amount": 1,
    }
    rows = snapshot_rows(lake, D1)
    assert rows[2]["n"] is None and rows[1]["n"] == 1
    faults.record(5, survived=True)


def test_conflicting_duplicate_fails_the_uniqueness_rule(lake, faults):
    y = D1 - timedelta(1)
    pages = {"all": [Page(1, "u", 200, [record(1, y), record(1, y, n="2")])]}
    stages.ingest(lake, TABLE, D1, fetch_of(pages))
    stages.parse(lake, TABLE, D1)
    parsed = tascomi_table(lake, "parsed", "appeals").read("20240304")
    outcome = uniqueness(parsed, ["id", "import_date"])
    faults.record(survived=not outcome.passed)
    assert not outcome.passed and outcome.metadata["duplicate_rows"] == 1


def test_columns_appearing_and_disappearing_and_an_empty_day(lake, faults):
    run(lake, D1, {"all": [Page(1, "u", 200, [record(1, D1 - timedelta(1), old="x")])]})
    run(lake, D2, {D1: [Page(1, "u", 200, [record(2, D1, new="y")])]})
    reports = run(lake, D3, {})  # nothing changed on D2: 202 from the API, no pages
    assert reports["api_response"].rows == 0 and reports["increment"].rows == 0
    rows = snapshot_rows(lake, D3)
    assert rows[1]["old"] == "x" and rows[1]["new"] is None
    assert rows[2]["new"] == "y" and rows[2]["old"] is None
    assert reports["snapshot"].metadata["base_snapshot_date"] == "20240305"
    faults.record(3, survived=len(rows) == 2, lost=2 - len(rows))


def test_a_huge_record(lake, faults):
    huge = record(1, D1 - timedelta(1), notes="x" * 5_000_000)
    reports = run(lake, D1, {"all": [Page(1, "u", 200, [huge, record(2, D1 - timedelta(1))])]})
    rows = snapshot_rows(lake, D1)
    faults.record(survived=len(rows[1]["notes"]) == 5_000_000)
    assert reports["snapshot"].rows == 2 and len(rows[1]["notes"]) == 5_000_000


def _crash_during_publish(raw_zone: str, refined_zone: str) -> None:
    """A worker that dies (no cleanup, no exception handling) between write and publish."""

    class DiesOnPublish:
        def __init__(self, fs):
            self._fs = fs

        def __getattr__(self, name):
            return getattr(self._fs, name)

        def move(self, *args, **kwargs):
            os._exit(9)  # killed after the data is written, before it is published

    table = tascomi_table(Lake({"raw": raw_zone, "refined": refined_zone}), "snapshot", "appeals")
    table.fs = DiesOnPublish(table.fs)
    table.write("20240304", pa.table({"id": [99]}))


def test_a_run_killed_mid_write_leaves_the_old_partition_and_a_rerun_completes_once(lake, faults):
    pages = {"all": [Page(1, "u", 200, [record(1, D1 - timedelta(1))])]}
    run(lake, D1, pages)
    before = tascomi_table(lake, "snapshot", "appeals").read("20240304")
    worker = multiprocessing.get_context("spawn").Process(
        target=_crash_during_publish, args=(lake.zones["raw"], lake.zones["refined"])
    )
    worker.start()
    worker.join(60)
    assert worker.exitcode == 9
    after = tascomi_table(lake, "snapshot", "appeals").read("20240304")
    intact = after.equals(before)
    rerun = stages.snapshot(lake, TABLE, D1)
    final = tascomi_table(lake, "snapshot", "appeals").read("20240304")
    faults.record(survived=intact and rerun.rows == 1, corrupted=int(not intact))
    assert intact and final.num_rows == 1 and final.equals(before)


def test_rerunning_and_backfilling_past_partitions_is_idempotent(lake, faults):
    y = D1 - timedelta(1)
    days = {
        D1: {"all": [Page(1, "u", 200, [record(1, y), record(2, y)])]},
        D2: {D1: [Page(1, "u", 200, [record(2, D1, n="20")])]},
        D3: {D2: [Page(1, "u", 200, [record(3, D2)])]},
    }
    for day, pages in days.items():
        run(lake, day, pages)
    first = {d: snapshot_rows(lake, d) for d in days}
    for day in days:  # a backfill over already-materialised partitions
        stages.parse(lake, TABLE, day)
        stages.refine(lake, TABLE, day, TYPES)
        stages.snapshot(lake, TABLE, day)
    again = {d: snapshot_rows(lake, d) for d in days}
    same = all(
        {k: {c: v for c, v in r.items() if c != "import_datetime"} for k, r in first[d].items()}
        == {k: {c: v for c, v in r.items() if c != "import_datetime"} for k, r in again[d].items()}
        for d in days
    )
    faults.record(3, survived=same)
    assert same and again[D3][2]["n"] == 20 and set(again[D3]) == {1, 2, 3}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("tables:\n  - {name: appeals, cadense: daily}\n", "unknown field"),
        ("tables:\n  - {name: appeals, cadence: hourly}\n", "cadence must be daily or weekly"),
        ("tables:\n  - {name: appeals}\n  - {name: appeals}\n", "listed twice"),
        ("tables: [\n", "not valid YAML"),
        (
            "tables:\n  - {name: appeals, id_column: 'id\"; drop table x; --'}\n",
            r"entry 1 \(appeals\): id_column must be a column name .* got 'id\"; drop table x; --'",
        ),
        (
            "tables:\n  - {name: appeals}\n  - {name: fees, completeness_column: 5}\n",
            r"entry 2 \(fees\): completeness_column must be a column name .* got 5",
        ),
        ("tables:\n  - {name: appeals, id_column: ../id}\n", "id_column must be a column name"),
        ("tables:\n  - {name: '../x'}\n", "'name' must be a lower-case identifier"),
        ("tables:\n  - {name: appeals}\npaused: fees\n", "'paused:' must be a list"),
        ("tables:\n  - {name: appeals}\npaused: [appeals]\n", "both in 'tables:' and 'paused:'"),
        ("tables:\n  - {name: appeals}\npaused: ['a b']\n", "paused entry 1"),
        ("tables:\n  - {name: appeals}\npaussed: [fees]\n", "unknown top-level key"),
    ],
)
def test_table_list_errors_fail_at_load_with_what_to_fix(tmp_path, faults, content, message):
    path = tmp_path / "tables.yaml"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=message) as error:
        load_tables(path)
    assert str(path) in str(error.value)  # the file is named
    faults.record(survived=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("appeals:\n  id: integr\n", r"appeals.id has unknown type 'integr'"),
        ("'../x':\n  id: integer\n", r"table name '../x' must be a lower-case identifier"),
        ("appeals:\n  'a\"b': integer\n", r"appeals: column name 'a\"b' must be an identifier"),
        ("appeals:\n  id: [integer]\n", r"appeals.id has unknown type \['integer'\]"),
        ("appeals:\n  7: integer\n", r"appeals: column name 7 must be an identifier"),
        ("appeals: [id]\n", r"table 'appeals' must map column names to types"),
    ],
)
def test_malformed_type_catalogue_fails_at_load(tmp_path, faults, content, message):
    path = tmp_path / "types.yaml"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=message) as error:
        ColumnTypeCatalogue.load(path)
    assert str(path) in str(error.value)
    faults.record(survived=True)


def test_a_catalogue_table_unknown_to_the_table_list_fails_the_definitions_load(
    tmp_path, monkeypatch, settings, faults
):
    from lbh_platform.defs.tascomi.definitions import build_tascomi_definitions, tascomi_config

    tables, types = tmp_path / "tables.yaml", tmp_path / "types.yaml"
    monkeypatch.setenv("LBH_TASCOMI_TABLES_FILE", str(tables))
    monkeypatch.setenv("LBH_TASCOMI_COLUMN_TYPES_FILE", str(types))
    tables.write_text("tables:\n  - {name: appeals}\n  - {name: wards, cadence: weekly}\n")
    types.write_text("appeels:\n  id: integer\nwards:\n  id: integer\nnotes:\n  id: integer\n")
    with pytest.raises(ConfigurationError) as error:
        build_tascomi_definitions(*tascomi_config())
    message = str(error.value)
    assert str(types) in message and str(tables) in message
    assert "'appeels' (did you mean 'appeals'?)" in message and "'notes'" in message
    assert "paused:" in message
    # The explicit opt-out: kept typed, not ingested. The typo still has to be fixed.
    tables.write_text(tables.read_text() + "paused: [notes]\n")
    with pytest.raises(ConfigurationError, match="'appeels'") as error:
        build_tascomi_definitions(*tascomi_config())
    assert "'notes'" not in str(error.value)
    types.write_text("appeals:\n  id: integer\nwards:\n  id: integer\nnotes:\n  id: integer\n")
    defs = build_tascomi_definitions(*tascomi_config())
    keys = {key.path[2].removesuffix(f"_{key.path[1]}") for a in defs.assets for key in a.keys}
    assert keys == {"appeals", "wards"}  # paused: no assets
    faults.record(survived=True)


def test_the_shipped_table_list_accounts_for_every_catalogue_table():
    from lbh_platform.tascomi.column_types import check_catalogue_tables
    from lbh_platform.tascomi.tables import load_table_list

    shipped = load_table_list()
    catalogue = ColumnTypeCatalogue.load()
    check_catalogue_tables(catalogue.tables(), [t.name for t in shipped.tables], shipped.paused)
    assert "site_visits" in shipped.paused and "appeals" not in shipped.paused


def test_malformed_aqs_file_fails_at_load(tmp_path, faults):
    from lbh_platform.alloy.datasets import load_datasets

    (tmp_path / "broken.json").write_text('{"name": "broken", "mode": "sometimes"')
    with pytest.raises(ConfigurationError, match="broken.json"):
        load_datasets(tmp_path)
    faults.record(survived=True)


def test_a_missing_variable_fails_at_load(monkeypatch, faults):
    from lbh_platform.tascomi.settings import load_tascomi_settings

    with pytest.raises(ConfigurationError, match="TASCOMI_PRIVATE_KEY"):
        load_tascomi_settings(
            {"TASCOMI_API_URL": "https://planning.example/rest/v1/", "TASCOMI_PUBLIC_KEY": "p"}
        )
    faults.record(survived=True)


def test_unknown_table_in_the_demo_is_refused(faults, capsys):
    from lbh_platform_devkit.demo import main

    assert main(["--days", "1", "--tables", "appeals,no_such_table"]) == 2
    assert "no_such_table" in capsys.readouterr().err
    faults.record(survived=True)


def test_json_output_of_the_documented_counts_is_serialisable(lake):
    pages = {"all": [Page(1, "u", 200, [record(1, D1 - timedelta(1))])]}
    reports = run(lake, D1, pages)
    for report in reports.values():
        json.dumps(report.metadata)


def test_concurrent_runs_of_one_partition_cannot_corrupt_it(lake, faults):
    from concurrent.futures import ThreadPoolExecutor

    y = D1 - timedelta(1)
    run(lake, D1, {"all": [Page(1, "u", 200, [record(i, y) for i in range(1, 200)])]})
    expected = tascomi_table(lake, "snapshot", "appeals").read("20240304")
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: stages.snapshot(lake, TABLE, D1), range(8)))
    final = tascomi_table(lake, "snapshot", "appeals").read("20240304")
    intact = final.equals(expected) and all(r.rows == 199 for r in reports)
    faults.record(survived=intact, corrupted=int(not intact))
    assert intact


def test_every_asset_shares_a_pool_per_table_and_the_local_instance_limits_it(
    tmp_path, monkeypatch
):
    from lbh_platform.definitions import defs
    from lbh_platform_devkit.local import prepare_local_environment

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = prepare_local_environment()
    assert "default_limit: 1" in (home / "dagster.yaml").read_text()
    graph = defs.resolve_asset_graph()
    expected = {
        "tascomi": lambda path: f"tascomi_{path[2].removesuffix('_' + path[1])}",
        "alloy": lambda path: f"alloy_{path[2]}",
    }
    checked = 0
    for key in graph.get_all_asset_keys():
        if key.path[0] in expected:
            assert graph.get(key).pools == {expected[key.path[0]](key.path)}, key
            checked += 1
    assert checked > 48 * 4
