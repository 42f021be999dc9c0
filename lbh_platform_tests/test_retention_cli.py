"""The retention command: a dry run lists what would go and removes nothing; ``--apply``
removes it and records it; bad input is one clear line."""

from datetime import timedelta

import pytest

from lbh_platform.cli import retention
from lbh_platform.erasure import AuditLog
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform_tests.test_faults_snapshot_inputs import Api
from lbh_platform_tests.test_retention_storage import DAYS, run_days


@pytest.fixture()
def lake(tmp_path) -> Lake:
    lake = Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})
    run_days(lake, Api(), DAYS)
    return lake


@pytest.fixture()
def config(tmp_path) -> str:
    path = tmp_path / "retention.yaml"
    path.write_text("defaults: {daily_days: 3}\ntables:\n  tascomi/appeals: {enabled: false}\n")
    return str(path)


def test_a_dry_run_lists_and_removes_nothing(lake, config, capsys):
    before = tascomi_table(lake, "snapshot", "contacts").partitions()
    argv = ["tascomi", "--table", "contacts", "--today", "2024-02-06", "--config", config]
    assert retention.run(argv, lake=lake) == 0
    out = capsys.readouterr().out
    assert "retention (dry run), today 2024-02-06" in out
    assert "remove 20240129  older than 3 days, not a month-end" in out
    assert "5 snapshot partition(s) would be removed; --apply removes them" in out
    assert tascomi_table(lake, "snapshot", "contacts").partitions() == before


def test_apply_removes_and_audits(lake, config, capsys):
    argv = ["tascomi", "--table", "contacts", "--today", "2024-02-06", "--config", config]
    assert retention.run([*argv, "--apply", "--who", "ops"], lake=lake) == 0
    assert tascomi_table(lake, "snapshot", "contacts").partitions() == [
        "20240131",
        "20240204",
        "20240205",
    ]
    entries = AuditLog.of(lake).entries("retention")
    assert [e["who"] for e in entries] == ["ops"] and len(entries[0]["removed"]) == 5
    capsys.readouterr()
    assert retention.run([*argv, "--apply"], lake=lake) == 0  # nothing left to remove
    assert "0 snapshot partition(s) removed" in capsys.readouterr().out


def test_every_source_is_planned(lake, config, capsys):
    today = (DAYS[-1] + timedelta(days=1)).isoformat()
    assert retention.run(["--today", today, "--config", config], lake=lake) == 0
    assert "tascomi/contacts:" in capsys.readouterr().out


def test_mistakes_are_one_line(lake, config, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults: {daily_days: -1}\n")
    assert retention.run(["--config", str(bad)], lake=lake) == 1
    err = capsys.readouterr().err
    assert err.startswith("retention: ") and "daily_days" in err and len(err.splitlines()) == 1
    assert retention.run(["tascomi", "--table", "nope", "--config", config], lake=lake) == 1
    assert "no table 'nope'" in capsys.readouterr().err
