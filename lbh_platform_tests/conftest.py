"""Shared fixtures: isolated zones and Dagster instances per test."""

import pytest

from lbh_platform.settings import load_settings
from lbh_platform.tascomi.column_types import ColumnTypeCatalogue


@pytest.fixture()
def zones(tmp_path, monkeypatch):
    raw, refined = tmp_path / "raw", tmp_path / "refined"
    monkeypatch.setenv("LBH_RAW_ZONE", str(raw))
    monkeypatch.setenv("LBH_REFINED_ZONE", str(refined))
    return raw, refined


@pytest.fixture(scope="session")
def catalogue():
    return ColumnTypeCatalogue.load()


@pytest.fixture()
def settings(zones):
    return load_settings()


@pytest.fixture(autouse=True)
def _no_leftover_dagster_state_storage():
    """Dagster 1.13 leaves a closed test instance's defs-state storage in a context variable,
    which breaks resolving definitions in the next test; start each test without it."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
    yield


class FaultLedger:
    """Counts for the fault-injection suite's closing summary line."""

    def __init__(self) -> None:
        self.injected = 0
        self.survived = 0
        self.records_lost = 0
        self.partitions_corrupted = 0

    def record(self, injected: int = 1, *, survived: bool, lost: int = 0, corrupted: int = 0):
        self.injected += injected
        self.survived += injected if survived else 0
        self.records_lost += lost
        self.partitions_corrupted += corrupted


_LEDGER = FaultLedger()


@pytest.fixture()
def faults() -> FaultLedger:
    """Each fault test records what it injected and whether the pipeline survived it."""
    return _LEDGER


def pytest_terminal_summary(terminalreporter) -> None:
    if _LEDGER.injected:
        terminalreporter.write_line(
            f"faults injected: {_LEDGER.injected}, survived: {_LEDGER.survived}, "
            f"records lost: {_LEDGER.records_lost}, "
            f"partitions corrupted: {_LEDGER.partitions_corrupted}"
        )
