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
