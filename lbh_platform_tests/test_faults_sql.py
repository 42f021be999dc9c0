"""Fault injection, the SQL command line against a hostile catalogue file and runaway queries:
a view planted in the catalogue cannot widen where a session may read (only the configured
zones), and memory, threads and each statement's time are bounded, with a one-line error
naming the limit that stopped a statement."""

import io

import duckdb
import pyarrow as pa
import pytest

from lbh_platform.catalog import DuckDBCatalog
from lbh_platform.cli import sql
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table

pytestmark = pytest.mark.faults
PLAYBOOK = 'select id from "dataplatform-stg-tascomi-refined-zone"."applications"'
# Long enough to be stopped, never long enough to hang the suite if it were not.
SLOW = "select sum(hash(i)) as s from range(20_000_000_000) t(i)"
# Little to return, a lot to hold: a list aggregate cannot spill to disk.
GREEDY = "select len(list(i)) as n from range(30_000_000) t(i)"


@pytest.fixture()
def catalogue_file(tmp_path, zones):
    """A catalogue with one published table, its lake on the configured zones."""
    catalog = DuckDBCatalog(tmp_path / "catalog.duckdb")
    lake = Lake({"raw": str(zones[0]), "refined": str(zones[1])}, catalogs=[catalog])
    tascomi_table(lake, "snapshot", "applications").write("20240101", pa.table({"id": [7]}))
    return catalog.path


def _run(path: str, statement: str, capsys) -> tuple[int, str, str]:
    out = io.StringIO()
    code = sql.main(["--db", path, "--csv", statement], out=out)
    return code, out.getvalue(), capsys.readouterr().err


PLANTED = {
    "glob_of_the_root": "create view planted as select * from glob('//nothing*')",
    "text_of_proc_self": "create view planted as select * from read_text('/proc/self/*')",
    "text_in_etc": "create view planted as select * from read_text('/etc/host*')",
}


@pytest.mark.parametrize("view", PLANTED.values(), ids=PLANTED.keys())
def test_a_view_planted_in_the_catalogue_does_not_widen_the_sandbox(
    catalogue_file, capsys, faults, view
):
    with duckdb.connect(catalogue_file) as connection:
        connection.execute(view)
    code, out, err = _run(
        catalogue_file, "select content from read_text('/proc/self/environ')", capsys
    )
    assert code == 1 and "Permission Error" in err and out == ""
    code, out, _ = _run(catalogue_file, "select * from glob('/etc/*')", capsys)
    assert code == 1 and out == ""
    assert _run(catalogue_file, PLAYBOOK, capsys)[:2] == (0, "id\n7\n")  # views still resolve
    with sql.connect(catalogue_file) as connection, pytest.raises(duckdb.PermissionException):
        connection.sql("select * from read_text('/proc/self/environ')").fetchall()
    faults.record(survived=code == 1 and out == "")


def test_views_over_other_zones_fail_with_a_hint_not_with_access(
    catalogue_file, capsys, monkeypatch, tmp_path, faults
):
    monkeypatch.setenv("LBH_RAW_ZONE", str(tmp_path / "other" / "raw"))
    monkeypatch.setenv("LBH_REFINED_ZONE", str(tmp_path / "other" / "refined"))
    code, out, err = _run(catalogue_file, PLAYBOOK, capsys)
    assert code == 1 and out == "" and "Permission Error" in err
    assert "views dataplatform-stg-tascomi-refined-zone.applications read outside" in err
    assert "LBH_RAW_ZONE" in err and err.count("\n") == 1
    faults.record(survived=code == 1)


def test_a_statement_over_the_time_limit_is_stopped_with_a_clear_error(
    catalogue_file, capsys, monkeypatch, faults
):
    monkeypatch.setenv("LBH_SQL_TIMEOUT_SECONDS", "0.2")
    code, out, err = _run(catalogue_file, SLOW, capsys)
    assert code == 1 and out == ""
    assert err.strip() == (
        "error: statement stopped after 0.2 s, the limit (LBH_SQL_TIMEOUT_SECONDS); narrow it "
        "or raise the limit"
    )
    # The next statement has its own time.
    assert _run(catalogue_file, PLAYBOOK, capsys)[:2] == (0, "id\n7\n")
    faults.record(survived=code == 1)


def test_an_interactive_session_carries_on_after_a_stopped_statement(
    catalogue_file, monkeypatch, faults
):
    monkeypatch.setenv("LBH_SQL_TIMEOUT_SECONDS", "0.2")
    out = io.StringIO()
    sql.interactive(catalogue_file, stdin=io.StringIO(f"{SLOW};\nselect 41 + 1 as a;\n"), out=out)
    shown = out.getvalue()
    assert "error: statement stopped after 0.2 s" in shown and "42" in shown
    faults.record(survived="42" in shown)


def test_a_statement_over_the_memory_limit_is_stopped_with_a_one_line_error(
    catalogue_file, capsys, monkeypatch, faults
):
    monkeypatch.setenv("LBH_SQL_MEMORY_LIMIT", "20MB")
    code, out, err = _run(catalogue_file, GREEDY, capsys)
    assert code == 1 and out == ""
    assert err.startswith(
        "error: statement stopped: it needs more memory than the limit of 20MB "
        "(LBH_SQL_MEMORY_LIMIT)"
    )
    assert err.count("\n") == 1  # one line, not DuckDB's list of suggestions
    faults.record(survived=code == 1)


def test_limits_are_set_and_locked_before_any_query(catalogue_file, monkeypatch):
    monkeypatch.setenv("LBH_SQL_MEMORY_LIMIT", "300MB")
    monkeypatch.setenv("LBH_SQL_THREADS", "1")
    with duckdb.connect() as reference:
        reference.execute("set memory_limit = '300MB'")
        expected = reference.sql("select current_setting('memory_limit')").fetchall()[0][0]
    with sql.connect(catalogue_file) as connection:
        settings = connection.sql(
            "select current_setting('memory_limit'), current_setting('threads')"
        ).fetchall()[0]
        assert settings == (expected, 1)
        for statement in ("set memory_limit = '100GB'", "set threads = 64"):
            with pytest.raises(duckdb.InvalidInputException, match="locked"):
                connection.execute(statement)


def test_the_defaults_and_bad_values_of_the_limits(catalogue_file, capsys, monkeypatch):
    assert sql.sql_limits({}) == sql.SqlLimits("2GB", 2, 300.0)
    assert sql.sql_limits(
        {"LBH_SQL_MEMORY_LIMIT": "512 MiB", "LBH_SQL_THREADS": "4", "LBH_SQL_TIMEOUT_SECONDS": "60"}
    ) == sql.SqlLimits("512 MiB", 4, 60.0)
    for variable, value in [
        ("LBH_SQL_MEMORY_LIMIT", "lots"),
        ("LBH_SQL_THREADS", "0"),
        ("LBH_SQL_THREADS", "two"),
        ("LBH_SQL_TIMEOUT_SECONDS", "-1"),
        ("LBH_SQL_TIMEOUT_SECONDS", "nan"),
    ]:
        monkeypatch.setenv(variable, value)
        code, out, err = _run(catalogue_file, "select 1", capsys)
        assert code == 1 and out == "" and err.startswith(f"error: {variable} must be"), err
        monkeypatch.delenv(variable)
