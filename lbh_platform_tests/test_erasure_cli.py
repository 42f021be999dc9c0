"""The erase command: a dry run lists the partitions holding the keys and changes nothing;
``--apply`` needs the salt, erases, verifies and records; no key is ever printed."""

import io

import pytest

from lbh_platform.cli import erase as command
from lbh_platform.erasure import AuditLog
from lbh_platform.storage.lake import Lake
from lbh_platform.tascomi.locations import tascomi_table
from lbh_platform_tests.test_erasure_tascomi import PERSON, pipeline

SALT = "test-salt-0123456789abcdef"


@pytest.fixture()
def lake(tmp_path) -> Lake:
    lake = Lake({"raw": str(tmp_path / "raw"), "refined": str(tmp_path / "refined")})
    pipeline(lake)
    return lake


def snapshot_ids(lake: Lake) -> list[int]:
    snapshots = tascomi_table(lake, "snapshot", "contacts")
    return snapshots.read(snapshots.partitions()[-1], ["id"])["id"].to_pylist()


def test_a_dry_run_lists_and_changes_nothing(lake, tmp_path, capsys):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{PERSON}\n\n")
    assert command.run(["tascomi", "contacts", "--keys-file", str(keys)], lake=lake) == 0
    out = capsys.readouterr().out
    assert "dry run: 1 key(s) in tascomi contacts" in out and "--apply erases them" in out
    assert "api_response" in out and "snapshot" in out
    assert str(PERSON) not in out
    assert PERSON in snapshot_ids(lake)


def test_apply_needs_the_salt_then_erases_reading_keys_from_stdin(lake, monkeypatch, capsys):
    monkeypatch.delenv("LBH_ERASURE_SALT", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PERSON}\n"))
    argv = ["tascomi", "contacts", "--keys-file", "-", "--apply", "--reference", "DPR-1"]
    assert command.run(argv, lake=lake) == 1
    assert "LBH_ERASURE_SALT is not set" in capsys.readouterr().err
    assert PERSON in snapshot_ids(lake)
    monkeypatch.setenv("LBH_ERASURE_SALT", SALT)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PERSON}\n"))
    assert command.run([*argv, "--who", "dpo"], lake=lake) == 0
    out = capsys.readouterr().out
    assert "verified: nothing holds the keys" in out and str(PERSON) not in out
    assert PERSON not in snapshot_ids(lake)
    entries = AuditLog.of(lake).entries("erasure")
    assert entries[-1]["who"] == "dpo" and entries[-1]["reference"] == "DPR-1"


def test_mistakes_are_one_line(lake, capsys):
    assert command.run(["tascomi", "contacts"], lake=lake) == 1
    assert "give the keys to erase" in capsys.readouterr().err
    argv = ["tascomi", "contacts", "--key", "1", "--column", "a[].b"]
    assert command.run(argv, lake=lake) == 1
    assert "erase by a top-level field" in capsys.readouterr().err
    assert command.run(["alloy", "no_such_dataset", "--key", "1"], lake=lake) == 1
    assert "alloy has no table 'no_such_dataset'; its tables are" in capsys.readouterr().err


def test_an_unknown_source_names_the_known_ones(lake, capsys):
    assert command.run(["parking", "bays", "--key", "1"], lake=lake) == 1
    err = capsys.readouterr().err
    assert "unknown source 'parking'" in err
    assert all(name in err for name in ("tascomi", "alloy", "event_streams"))
