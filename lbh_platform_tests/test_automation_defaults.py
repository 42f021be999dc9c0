"""Which schedules and sensors start RUNNING: production runs the daily operation by itself,
the embedded demo keeps its runs to the ones you start, and docs/DEPLOYING.md says so for
every schedule and sensor the definitions have."""

import dagster as dg
import pytest

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.definitions import load_definitions
from lbh_platform.lib import automation_defaults as defaults
from lbh_platform_tests.automation_docs import documented_states

DAILY_OPERATION = {
    "tascomi_daily_0300",
    "tascomi_weekly_static_sunday_0300",
    "alloy_weekdays_0400",
    "tenure_event_files",
    "contact_details_event_files",
    "tenure_stale_snapshots",
    "contact_details_stale_snapshots",
    "tascomi_freshness",
    "alloy_freshness",
    "tenure_freshness",
    "contact_details_freshness",
    "lbh_automation",
    "lbh_run_failure_alerts",
    "lbh_check_failure_alerts",
    "lbh_heartbeat",
}


def _states(deployment: str, monkeypatch) -> dict[str, tuple[str, str]]:
    """name -> (kind, default state) of every schedule and sensor, as the code server would
    load them under ``LBH_DEPLOYMENT=deployment``."""
    monkeypatch.setenv("LBH_DEPLOYMENT", deployment)
    repository = load_definitions().get_repository_def()
    states = {s.name: ("schedule", s.default_status.value) for s in repository.schedule_defs}
    states.update({s.name: ("sensor", s.default_status.value) for s in repository.sensor_defs})
    return states


def test_production_runs_every_schedule_and_sensor_the_day_needs(zones, monkeypatch):
    states = _states("production", monkeypatch)
    assert set(states) >= DAILY_OPERATION, sorted(DAILY_OPERATION - set(states))
    running = {name for name, (_, state) in states.items() if state == "RUNNING"}
    # Only the opt-in DynamoDB re-syncs stay stopped.
    assert set(states) - running == {"tenure_weekly_resync", "contact_details_weekly_resync"}


def test_the_embedded_demo_fetches_nothing_on_its_own(zones, monkeypatch):
    states = _states("embedded", monkeypatch)
    stopped = {name for name, (_, state) in states.items() if state == "STOPPED"}
    assert stopped == {
        "tascomi_daily_0300",
        "tascomi_weekly_static_sunday_0300",
        "alloy_weekdays_0400",
        "tenure_event_files",
        "contact_details_event_files",
        "tenure_weekly_resync",
        "contact_details_weekly_resync",
        "lbh_retention_weekly",  # a demo keeps every day
    }


def test_the_docs_table_is_every_schedule_and_sensor_with_the_states_the_code_gives(
    zones, monkeypatch
):
    production = _states("production", monkeypatch)
    embedded = _states("embedded", monkeypatch)
    documented = documented_states()
    assert set(documented) == set(production), (
        f"missing from docs/DEPLOYING.md: {sorted(set(production) - set(documented))}; "
        f"no longer defined: {sorted(set(documented) - set(production))}"
    )
    for name, row in documented.items():
        assert (row["kind"], row["production"]) == production[name], name
        assert row["embedded"] == embedded[name][1], name


def test_an_unknown_deployment_is_refused_naming_the_setting():
    with pytest.raises(ConfigurationError, match="LBH_DEPLOYMENT must be `embedded` or"):
        defaults.sensor_status(defaults.DAILY_INGEST, {"LBH_DEPLOYMENT": "prod"})
    assert defaults.deployment({}) == "embedded"
    assert defaults.deployment({"LBH_DEPLOYMENT": " Production "}) == "production"
    # A role that is the same everywhere does not depend on the setting at all.
    assert defaults.sensor_status(defaults.MONITORING, {"LBH_DEPLOYMENT": "prod"}) == (
        dg.DefaultSensorStatus.RUNNING
    )
    assert defaults.schedule_status(defaults.OPT_IN, {"LBH_DEPLOYMENT": "production"}) == (
        dg.DefaultScheduleStatus.STOPPED
    )
