"""Fault injection, hostile configuration files: an alias bomb, nesting thousands deep, a key
given twice, a table name too long to become a table. Each is refused when the file is loaded,
with a short message naming the file and where in it, never the expanded value; the shipped
files (and aliases used in moderation) still load as before."""

import shutil
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from lbh_platform.cli import probe as probe_cli
from lbh_platform.common import yaml_loader
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.common.monitoring_config import DEFAULT_MONITORING_FILE, load_monitoring_config
from lbh_platform.tascomi.column_types import DEFAULT_CATALOGUE_FILE, ColumnTypeCatalogue
from lbh_platform.tascomi.config_files import ConfigEditError, add_table
from lbh_platform.tascomi.tables import (
    DEFAULT_TABLES_FILE,
    MAX_TABLE_NAME_LENGTH,
    TascomiTable,
    load_table_list,
    load_tables,
)
from lbh_platform_devkit.tascomi.simulator import TascomiSimulator

pytestmark = pytest.mark.faults
LONG_NAME = "a" * 300


def _laughs(levels: int, width: int = 9) -> str:
    """Anchors ``&a``, ``&b``..: each a list of ``width`` aliases of the one before, so the
    last stands for ``width ** levels`` values; a few hundred bytes."""
    names = "abcdefghijklmnop"
    parts = [f"&a [{','.join(['lol'] * width)}]"]
    parts += [f"&{names[n]} [{','.join([f'*{names[n - 1]}'] * width)}]" for n in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


def _bombs(levels: int) -> dict[str, tuple[str, object]]:
    """Where the bomb goes, and the loader that must refuse it: in each file the expanded
    value lands where the old messages printed it whole."""
    laughs = _laughs(levels)
    return {
        "table list": (f"tables:\n  - {laughs}\n", load_tables),
        "catalogue": (f"appeals:\n  id: {laughs}\n", ColumnTypeCatalogue.load),
        "monitoring": (f"volume:\n  defaults: {{window: {laughs}}}\n", load_monitoring_config),
    }


def _refused(tmp_path: Path, content: str, load) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(content)
    with pytest.raises(ConfigurationError) as error:
        load(path)
    message = str(error.value)
    assert str(path) in message  # the file is named
    assert len(message) < 400, message[:400]  # never the expanded value
    return message


@pytest.mark.parametrize("levels", [6, 9], ids=["9^6_values", "9^9_values"])
@pytest.mark.parametrize("where", ["table list", "catalogue", "monitoring"])
def test_an_alias_bomb_is_refused_at_load_naming_the_place(tmp_path, faults, where, levels):
    content, load = _bombs(levels)[where]
    if levels == 9:
        assert len(content.encode()) < 400  # the bomb: a few hundred bytes
    message = _refused(tmp_path, content, load)
    assert "aliases (*name) are expanded" in message and "line " in message
    faults.record(survived=True)


DEEP = {
    "flow": "[" * 5000 + "]" * 5000,
    "block": "\n  " + "- " * 5000 + "x",
    "flow_mapping": "{a: " * 5000 + "1" + "}" * 5000,
}


@pytest.mark.parametrize("shape", DEEP)
@pytest.mark.parametrize(
    ("prefix", "load"),
    [
        ("tables: ", load_tables),
        ("appeals: ", ColumnTypeCatalogue.load),
        ("freshness: ", load_monitoring_config),
    ],
    ids=["table list", "catalogue", "monitoring"],
)
def test_nesting_thousands_deep_is_refused_without_recursion_error(
    tmp_path, faults, shape, prefix, load
):
    message = _refused(tmp_path, prefix + DEEP[shape] + "\n", load)
    assert "line " in message and ("nest" in message or "depth" in message)
    faults.record(survived=True)


@pytest.mark.parametrize(
    ("content", "load", "place"),
    [
        ("tables:\n  - {name: appeals, name: contacts}\n", load_tables, "line 2, column 21"),
        (
            "tables:\n  - {name: appeals}\ntables:\n  - {name: contacts}\n",
            load_tables,
            "line 3, column 1",
        ),
        (
            "tables:\n  - {name: appeals}\npaused: [a]\npaused: [b]\n",
            load_table_list,
            "line 4, column 1",
        ),
        ("appeals:\n  id: integer\n  id: date\n", ColumnTypeCatalogue.load, "line 3, column 3"),
        (
            "appeals:\n  id: integer\nfees:\n  id: long\nappeals:\n  x: date\n",
            ColumnTypeCatalogue.load,
            "line 5, column 1",
        ),
        (
            "volume:\n  defaults: {lower: 0.1, lower: 0.5}\n",
            load_monitoring_config,
            "line 2, column 26",
        ),
    ],
    ids=["entry", "section", "paused", "column", "catalogue_table", "monitoring"],
)
def test_a_key_given_twice_is_refused_at_load(tmp_path, faults, content, load, place):
    message = _refused(tmp_path, content, load)
    assert "appears twice" in message and place in message
    faults.record(survived=True)


@pytest.mark.parametrize(
    ("content", "load", "where"),
    [
        (f"tables:\n  - {{name: {LONG_NAME}}}\n", load_tables, "entry 1: 'name'"),
        (
            f"tables:\n  - {{name: appeals}}\npaused: [{LONG_NAME}]\n",
            load_tables,
            "paused entry 1",
        ),
        (f"{LONG_NAME}:\n  id: integer\n", ColumnTypeCatalogue.load, "table name"),
        (f"appeals:\n  {'c' * 300}: integer\n", ColumnTypeCatalogue.load, "column name"),
        (f"tables:\n  - {{name: appeals, id_column: {'c' * 300}}}\n", load_tables, "id_column"),
    ],
    ids=["table", "paused", "catalogue_table", "catalogue_column", "id_column"],
)
def test_a_name_too_long_for_the_catalogue_is_refused_at_load(
    tmp_path, faults, content, load, where
):
    message = _refused(tmp_path, content, load)
    assert where in message and "at most" in message and "got 300" in message
    faults.record(survived=True)


def test_a_table_name_at_the_bound_loads(tmp_path):
    name = "t" * MAX_TABLE_NAME_LENGTH
    path = tmp_path / "tables.yaml"
    path.write_text(f"tables:\n  - {{name: {name}}}\n")
    assert [t.name for t in load_tables(path)] == [name]


@pytest.fixture()
def long_named_api(tmp_path, monkeypatch):
    """The simulator serving a resource whose name is 300 characters, and copies of the
    shipped files for ``probe --write``."""
    day = date(2024, 3, 5)
    shipped = ColumnTypeCatalogue.load()
    tables, types = tmp_path / "tables.yaml", tmp_path / "types.yaml"
    shutil.copy(DEFAULT_TABLES_FILE, tables)
    shutil.copy(DEFAULT_CATALOGUE_FILE, types)
    served = ColumnTypeCatalogue(
        {**{t: shipped.columns(t) for t in shipped.tables()}, LONG_NAME: {"id": "integer"}}
    )
    with TascomiSimulator(
        [TascomiTable(LONG_NAME)], served, epoch=day - timedelta(days=30), page_size=20
    ) as simulator:
        simulator.set_now(datetime.combine(day, time(3), ZoneInfo("Europe/London")))
        monkeypatch.setenv("LBH_TASCOMI_TABLES_FILE", str(tables))
        monkeypatch.setenv("LBH_TASCOMI_COLUMN_TYPES_FILE", str(types))
        monkeypatch.setenv("TASCOMI_API_URL", simulator.base_url)
        monkeypatch.setenv("TASCOMI_PUBLIC_KEY", "sim-public-key")
        monkeypatch.setenv("TASCOMI_PRIVATE_KEY", "sim-private-key")
        yield simulator, tables, types


def test_probe_write_refuses_a_name_too_long_before_any_request(long_named_api, capsys, faults):
    simulator, tables, types = long_named_api
    before = tables.read_bytes(), types.read_bytes()
    requests = len(simulator.request_log)
    status = probe_cli.run([LONG_NAME, "--write"])
    err = capsys.readouterr().err
    assert status == 1
    assert f"at most {MAX_TABLE_NAME_LENGTH} characters" in err and "nothing written" in err
    assert "Traceback" not in err and len(err) < 400
    assert (tables.read_bytes(), types.read_bytes()) == before
    assert len(simulator.request_log) == requests
    faults.record(survived=(tables.read_bytes(), types.read_bytes()) == before)


def test_add_table_refuses_a_name_the_loader_would_refuse(tmp_path):
    tables, types = tmp_path / "tables.yaml", tmp_path / "types.yaml"
    shutil.copy(DEFAULT_TABLES_FILE, tables)
    shutil.copy(DEFAULT_CATALOGUE_FILE, types)
    before = tables.read_bytes()
    with pytest.raises(ConfigEditError, match="at most 64 characters"):
        add_table(tables, types, {"name": LONG_NAME}, {"id": "integer"})
    assert tables.read_bytes() == before


@pytest.mark.parametrize(
    "path", [DEFAULT_TABLES_FILE, DEFAULT_CATALOGUE_FILE, DEFAULT_MONITORING_FILE]
)
def test_the_shipped_files_load_as_pyyaml_reads_them(path):
    assert yaml_loader.load_yaml(path) == yaml.safe_load(Path(path).read_text())


def test_aliases_in_moderation_and_merge_keys_still_load(tmp_path):
    path = tmp_path / "monitoring.yaml"
    path.write_text(
        "volume:\n"
        "  defaults: &band {lower: 0.1, upper: 9}\n"
        "  overrides:\n"
        "    tascomi/snapshot/appeals_snapshot: *band\n"
        "    tascomi/snapshot/fees_snapshot: {<<: *band, upper: 3}\n"
    )
    config = load_monitoring_config(path)
    assert config.band("tascomi/snapshot/appeals_snapshot").upper == 9
    assert config.band("tascomi/snapshot/fees_snapshot").upper == 3
    assert config.band("tascomi/snapshot/fees_snapshot").lower == 0.1


def test_an_alias_inside_its_own_anchor_and_a_huge_file_are_refused(tmp_path, faults):
    message = _refused(tmp_path, "tables: &t [*t]\n", load_tables)
    assert "alias *t is inside the node it refers to" in message
    big = "tables:\n" + "  - {name: appeals}\n" * (yaml_loader.MAX_BYTES // 18)
    message = _refused(tmp_path, big, load_tables)
    assert "larger than" in message
    faults.record(2, survived=True)
