"""`probe`: a Tascomi resource reported against the catalogue, and added to the config files.

Against the simulator over HTTP, serving a resource that is in neither the table list nor the
catalogue (``street_works``), with its own column types, so new, missing and conflicting
fields are known in advance. ``--write`` runs on copies of the shipped files.
"""

import shutil
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
import yaml

from lbh_platform.cli import probe as cli
from lbh_platform.tascomi.column_types import DEFAULT_CATALOGUE_FILE, ColumnTypeCatalogue
from lbh_platform.tascomi.config_files import (
    ConfigEditError,
    add_table,
    insert_catalogue_block,
    insert_table_line,
)
from lbh_platform.tascomi.probe import infer_types, spread, string_columns
from lbh_platform.tascomi.tables import (
    DEFAULT_TABLES_FILE,
    PAUSED_RULE,
    TascomiTable,
    load_table_list,
    load_tables,
)
from lbh_platform_devkit.tascomi.simulator import TascomiSimulator

LONDON = ZoneInfo("Europe/London")
DAY = date(2024, 3, 5)
NOW = datetime.combine(DAY, time(3), LONDON)
NEW = "street_works"
# What the simulated API serves for the new resource...
SERVED = {
    "id": "integer",
    "last_updated": "timestamp",
    "permit_id": "integer",
    "start_date": "timestamp",
    "approved": "boolean",
    "cost": "double",
}


@pytest.fixture(scope="module")
def simulator():
    shipped = ColumnTypeCatalogue.load()
    served = ColumnTypeCatalogue({**{t: shipped.columns(t) for t in shipped.tables()}, NEW: SERVED})
    tables = [*load_tables(), TascomiTable(NEW), TascomiTable("empty_lookup", cadence="weekly")]
    sim = TascomiSimulator(tables, served, epoch=DAY - timedelta(days=60), page_size=50)
    sim.start()
    sim.set_now(NOW)
    yield sim
    sim.stop()


@pytest.fixture()
def files(tmp_path, monkeypatch, simulator):
    """Copies of the shipped table list and catalogue, used by the command."""
    tables, types = tmp_path / "tables.yaml", tmp_path / "types.yaml"
    shutil.copy(DEFAULT_TABLES_FILE, tables)
    shutil.copy(DEFAULT_CATALOGUE_FILE, types)
    monkeypatch.setenv("LBH_TASCOMI_TABLES_FILE", str(tables))
    monkeypatch.setenv("LBH_TASCOMI_COLUMN_TYPES_FILE", str(types))
    monkeypatch.setenv("TASCOMI_API_URL", simulator.base_url)
    monkeypatch.setenv("TASCOMI_PUBLIC_KEY", "sim-public-key")
    monkeypatch.setenv("TASCOMI_PRIVATE_KEY", "sim-private-key")
    simulator.set_now(NOW)
    return tables, types


def probe(capsys, *args):
    status = cli.run(list(args), now=NOW)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


def field_line(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.split()[:1] == [name])


def test_a_resource_not_yet_configured_is_reported_field_by_field(files, capsys, simulator):
    simulator.request_log.clear()
    status, out, _ = probe(capsys, NEW, "--pages", "2")
    assert status == 0
    # Only the first pages are read, without a last_updated filter.
    assert [(r, p) for r, p, _ in simulator.request_log] == [
        (NEW, {"page": "1"}),
        (NEW, {"page": "2"}),
    ]
    served = simulator.state(NEW, NOW)
    assert f"{len(served)} records (announced by the API)" in out
    assert f"sampled {min(100, len(served))} record(s) from 2 of" in out
    for column, kind in SERVED.items():
        assert field_line(out, column).split()[1:3] == [kind, "-"]  # inferred, catalogue
        assert "new: not in the catalogue" in field_line(out, column)
    assert "untyped string" in field_line(out, "reference")  # the simulator's plain strings
    assert "cadence hint: daily" in out
    assert f"  - {{name: {NEW}, cadence: daily}}" in out
    block = out.split("types.yaml:\n", 1)[1]
    assert yaml.safe_load("\n".join(line[2:] for line in block.splitlines())) == {NEW: SERVED}


def test_catalogue_differences_are_new_missing_and_conflicting(files, capsys):
    tables, types = files
    with types.open("a") as out:  # what someone documented earlier, partly wrong
        out.write(f"{NEW}:\n  permit_id: integer\n  start_date: integer\n  gone_column: date\n")
    status, out, _ = probe(capsys, NEW)
    assert status == 0
    assert field_line(out, "permit_id").split()[1:3] == ["integer", "integer"]
    assert field_line(out, "permit_id").endswith("ok")
    assert "would not cast as integer" in field_line(out, "start_date")
    assert "missing: in the catalogue" in field_line(out, "gone_column")
    assert "new: not in the catalogue" in field_line(out, "approved")
    assert "already lists street_works" in out


def test_write_adds_line_and_block_keeping_order_and_comments_and_refuses_twice(files, capsys):
    tables, types = files
    before = {path: path.read_text() for path in files}
    status, out, _ = probe(capsys, NEW, "--write")
    assert status == 0, out
    for path in files:
        old, new = before[path].splitlines(), path.read_text().splitlines()
        # Every original line, comments included, is still there in the same order.
        remaining = iter(new)
        assert all(line in remaining for line in old), path
        assert len(new) > len(old)
    loaded = load_tables(tables)
    assert [t.name for t in loaded if t.name != NEW] == [
        t.name for t in load_tables(DEFAULT_TABLES_FILE)
    ]
    added = next(t for t in loaded if t.name == NEW)
    assert added.cadence == "daily"
    # After the last daily table, before the weekly ones.
    cadences = [t.cadence for t in loaded]
    assert cadences.index("weekly") == [t.name for t in loaded].index(NEW) + 1
    comments = [line for line in before[tables].splitlines() if line.lstrip().startswith("#")]
    assert comments and all(line in tables.read_text().splitlines() for line in comments)
    catalogue = ColumnTypeCatalogue.load(types)
    assert catalogue.columns(NEW) == SERVED
    assert sorted(catalogue.tables()) == sorted([*ColumnTypeCatalogue.load().tables(), NEW])
    # Alphabetical place in the catalogue file.
    order = [k for k in yaml.safe_load(types.read_text())]
    assert order == sorted(order)

    written = {path: path.read_text() for path in files}
    status, _, err = probe(capsys, NEW, "--write")
    assert status == 1 and "already listed" in err
    assert {path: path.read_text() for path in files} == written


def test_an_unknown_resource_fails_with_a_plain_message(files, capsys):
    status, out, err = probe(capsys, "no_such_resource")
    assert status == 1 and out == ""
    assert "no resource 'no_such_resource' (HTTP 404" in err


def test_an_empty_resource_fails_with_a_plain_message(files, capsys, simulator):
    simulator.set_now(datetime.combine(DAY - timedelta(days=60 + 400), time(3), LONDON))
    status, _, err = probe(capsys, "empty_lookup")
    assert status == 1
    assert "no records for 'empty_lookup' (HTTP 202)" in err


def test_bad_credentials_fail_with_a_plain_message_without_the_key(files, capsys, monkeypatch):
    monkeypatch.setenv("TASCOMI_PRIVATE_KEY", "wrong-private-key-123")
    status, _, err = probe(capsys, NEW)
    assert status == 1
    assert "refused the credentials (HTTP 401)" in err
    assert "wrong-private-key-123" not in err


@pytest.mark.parametrize("name", ["Street_Works", "street-works", "1works", "../x", "a b"])
def test_an_invalid_identifier_is_refused_before_any_request(files, capsys, simulator, name):
    requests_before = len(simulator.request_log)
    status, _, err = probe(capsys, name, "--write")
    assert status == 1 and "is not a valid table name" in err
    assert len(simulator.request_log) == requests_before


def test_a_listed_table_is_reported_but_not_added(files, capsys):
    status, out, _ = probe(capsys, "appeals")
    assert status == 0
    assert "appeals is already in" in out
    assert " 0 new typed, 0 missing, 0 conflicting" in out


# --------------------------------------------------------------------------- pure parts


def test_inferred_types_follow_the_pipelines_cast_rules():
    records = [
        {
            "n": "12",
            "flag": "t",
            "code": "007",
            "day": "2024-01-02",
            "ts": "2024-01-02 10:00:00",
            "big": "9999999999",
            "x": "1.5",
            "bits": "1",
            "blank": "",
            "nested": {"a": 1},
            "s": "a",
        },
        {
            "n": None,
            "flag": "f",
            "code": "12",
            "day": None,
            "ts": "2024-01-03",
            "big": "1",
            "x": "2",
            "bits": "0",
            "blank": None,
            "nested": None,
            "s": "12",
        },
    ]
    table, nested = string_columns(records)
    assert infer_types(table, nested) == {
        "n": "integer",
        "flag": "boolean",
        "code": "string",  # leading zeros would be lost
        "day": "date",
        "ts": "timestamp",
        "big": "long",
        "x": "double",
        "bits": "integer",  # 0/1 stay numbers
        "blank": "null",
        "nested": "nested",
        "s": "string",
    }
    assert table.schema.field("n").type == pa.string()


def test_spread_hints_daily_for_busy_tables_and_weekly_for_lookups():
    now = datetime(2024, 3, 5, 3, tzinfo=LONDON)
    busy = [f"2024-03-{d:02d} 10:00:00" for d in range(1, 5)] * 10
    hint = spread(busy, now)
    assert hint.cadence == "daily" and hint.changed_within[7] == 40
    quiet = ["2023-01-01 10:00:00"] * 15 + ["2024-03-01 09:00:00", None]
    hint = spread(quiet, now)
    assert hint.cadence == "weekly" and hint.changed_within[30] == 1 and hint.without == 1
    assert (hint.oldest, hint.newest) == ("2023-01-01 10:00:00", "2024-03-01 09:00:00")


TABLES = """\
# header comment
tables:
  - {name: appeals, cadence: daily}   # trailing comment
  # a comment between entries
  - {name: fees, cadence: daily}
  - {name: wards, cadence: weekly}
  # - {name: paused_table, cadence: weekly}

paused:
  - on_hold
"""


def test_table_line_goes_after_the_last_entry_of_its_cadence():
    text, line = insert_table_line(TABLES, Path("t.yaml"), {"name": "new_one", "cadence": "daily"})
    assert text.splitlines()[line - 1] == "  - {name: new_one, cadence: daily}"
    assert text.replace("  - {name: new_one, cadence: daily}\n", "") == TABLES
    assert text.splitlines().index("  - {name: fees, cadence: daily}") == line - 2
    text, line = insert_table_line(TABLES, Path("t.yaml"), {"name": "n2", "cadence": "weekly"})
    assert text.splitlines()[line - 2] == "  - {name: wards, cadence: weekly}"


def test_catalogue_block_goes_in_alphabetical_place_above_the_next_tables_comment():
    catalogue = "# header\n\nalpha:\n  id: integer\n# about gamma\ngamma:\n  id: integer\n"
    text, line = insert_catalogue_block(catalogue, Path("c.yaml"), "beta", {"id": "integer"})
    assert text == (
        "# header\n\nalpha:\n  id: integer\nbeta:\n  id: integer\n"
        "# about gamma\ngamma:\n  id: integer\n"
    )
    assert line == 5
    text, _ = insert_catalogue_block(catalogue, Path("c.yaml"), "zeta", {"a": "date"})
    assert text.endswith("gamma:\n  id: integer\nzeta:\n  a: date\n")


def test_a_listed_or_commented_out_name_is_refused_and_nothing_is_written(tmp_path):
    tables, types = tmp_path / "t.yaml", tmp_path / "c.yaml"
    tables.write_text(TABLES)
    types.write_text("alpha:\n  id: integer\n")
    with pytest.raises(ConfigEditError, match="line 7: 'paused_table' is there, commented out"):
        add_table(tables, types, {"name": "paused_table", "cadence": "weekly"}, {"id": "integer"})
    with pytest.raises(ConfigEditError, match="'fees' is already listed"):
        add_table(tables, types, {"name": "fees", "cadence": "daily"}, {})
    with pytest.raises(ConfigEditError, match="'alpha' already has a block"):
        add_table(tables, types, {"name": "alpha", "cadence": "daily"}, {"id": "integer"})
    assert tables.read_text() == TABLES
    assert types.read_text() == "alpha:\n  id: integer\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "t.yaml"]  # no leftovers


def test_write_resumes_a_paused_table_by_moving_its_name_to_tables(tmp_path):
    tables, types = tmp_path / "t.yaml", tmp_path / "c.yaml"
    tables.write_text(TABLES)
    types.write_text("alpha:\n  id: integer\non_hold:\n  id: integer\n")
    edit = add_table(tables, types, {"name": "on_hold", "cadence": "daily"}, {})
    assert edit.resumed and edit.catalogue_line is None
    text = tables.read_text()
    assert text.splitlines()[edit.tables_line - 1] == "  - {name: on_hold, cadence: daily}"
    # The paused entry is gone; every other line (comments included) is untouched.
    assert text.replace("  - {name: on_hold, cadence: daily}\n", "") == TABLES.replace(
        "  - on_hold\n", ""
    )
    loaded = load_table_list(tables)
    assert [t.name for t in loaded.tables] == ["appeals", "fees", "on_hold", "wards"]
    assert loaded.paused == frozenset()
    assert types.read_text() == "alpha:\n  id: integer\non_hold:\n  id: integer\n"


def test_the_readme_example_a_paused_table_is_probed_then_resumed(files, capsys):
    """``site_visits`` ships under ``paused:`` (typed, not ingested): the API still serves it,
    the report says how to resume it, and ``--write`` does exactly that."""
    tables, types = files
    catalogue_before = types.read_text()
    status, out, _ = probe(capsys, "site_visits")
    assert status == 0, out
    assert f"site_visits is under 'paused:' in {tables}: {PAUSED_RULE}" in out
    assert "  - {name: site_visits, cadence: daily}" in out
    assert " 0 conflicting" in out and "already lists site_visits" in out
    status, out, _ = probe(capsys, "site_visits", "--write")
    assert status == 0, out
    assert "moved site_visits from 'paused:' to 'tables:'" in out
    resumed = load_table_list(tables)
    assert "site_visits" in [t.name for t in resumed.tables]
    assert "site_visits" not in resumed.paused
    assert types.read_text() == catalogue_before


def test_the_paused_rule_is_worded_the_same_everywhere(tmp_path):
    from lbh_platform.common.errors import ConfigurationError
    from lbh_platform.tascomi.column_types import check_catalogue_tables

    def plain(text: str) -> str:
        return " ".join(text.replace("`", "'").split())

    messages = []
    both = tmp_path / "both.yaml"
    both.write_text("tables:\n  - {name: appeals}\npaused: [appeals]\n")
    with pytest.raises(ConfigurationError) as error:
        load_table_list(both)
    messages.append(str(error.value))
    with pytest.raises(ConfigurationError) as error:
        check_catalogue_tables(["notes"], ["appeals"], [])
    messages.append(str(error.value))
    tables, types = tmp_path / "t.yaml", tmp_path / "c.yaml"
    tables.write_text(TABLES)
    types.write_text("alpha:\n  id: integer\n")
    with pytest.raises(ConfigEditError) as error:
        add_table(tables, types, {"name": "paused_table", "cadence": "weekly"}, {})
    messages.append(str(error.value))
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    messages.append(readme.split("## How to add a table", 1)[1].split("\n## ", 1)[0])
    for message in messages:
        assert plain(PAUSED_RULE) in plain(message), message
