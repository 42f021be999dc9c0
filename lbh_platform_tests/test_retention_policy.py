"""The retention policy as a pure decision: daily snapshots for N days, then month-ends; the
newest snapshot and the base of any snapshot still to be built always kept; the lineage guard
keeping what the remaining snapshots' proof needs; and the config file."""

from datetime import date, timedelta

import pytest

from lbh_platform.common import lineage
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.retention import (
    RetentionPolicy,
    lineage_guard,
    missing_snapshots,
    parse_retention,
    plan_retention,
    recorded_base_guard,
)

TODAY = date(2024, 6, 30)


def days(first: date, last: date) -> list[str]:
    out, day = [], first
    while day <= last:
        out.append(day.strftime("%Y%m%d"))
        day += timedelta(days=1)
    return out


def test_dailies_for_90_days_then_month_ends():
    snapshots = days(date(2024, 1, 1), TODAY)
    plan = plan_retention(snapshots, RetentionPolicy(), TODAY)
    cutoff = (TODAY - timedelta(days=89)).strftime("%Y%m%d")  # 2024-04-02, 89 days ago
    assert all(v in plan.keep for v in snapshots if v >= cutoff)
    old = [v for v in snapshots if v < cutoff]
    assert [v for v in old if v in plan.keep] == ["20240131", "20240229", "20240331"]
    assert plan.reason("20240131") == "month-end snapshot of 2024-01"
    assert plan.reason("20240115") == "older than 90 days, not a month-end"
    assert plan.reason(cutoff) == "within 90 days"


def test_a_month_without_its_last_day_keeps_its_last_snapshot():
    snapshots = [v for v in days(date(2024, 1, 1), TODAY) if v not in ("20240130", "20240131")]
    plan = plan_retention(snapshots, RetentionPolicy(), TODAY)
    assert "20240129" in plan.keep and "20240128" in plan.delete


def test_the_newest_and_the_base_of_a_snapshot_still_to_be_built_are_never_deleted():
    snapshots = ["20230101", "20230102", "20230105"]
    plan = plan_retention(
        snapshots, RetentionPolicy(daily_days=1, month_ends=False), TODAY, building=["20230104"]
    )
    assert plan.keep == ["20230102", "20230105"]
    assert plan.reason("20230102") == "the base of snapshot 20230104, still to be built"
    assert plan.reason("20230105") == "the newest snapshot (the next one is built on it)"
    assert missing_snapshots(["20230101", "20230103", "20230104", "20221231"], snapshots) == [
        "20230103",
        "20230104",
    ]


def test_month_ends_expire_when_asked_and_retention_can_be_off():
    snapshots = ["20200131", "20240131", "20240630"]
    plan = plan_retention(snapshots, RetentionPolicy(month_end_days=365), TODAY)
    assert plan.delete == ["20200131"]
    off = plan_retention(snapshots, RetentionPolicy(enabled=False), TODAY)
    assert off.delete == [] and off.reason("20200131") == "retention is off for this table"


def test_deleting_a_middle_snapshot_leaves_the_later_ones_sound():
    """A gap in the chain: the snapshot after it is judged against the one before the gap,
    with every import in between, all written before it: still sound."""
    imports = {v: float(n) for n, v in enumerate(["20240101", "20240102", "20240103"])}
    snapshots = {v: t + 0.5 for v, t in imports.items()}
    whole = lineage.Inputs([lineage.Stage("increment", imports)], snapshots)
    assert lineage.first_unsound(whole, "20240103") is None
    gap = lineage.Inputs(
        [lineage.Stage("increment", imports)],
        {v: t for v, t in snapshots.items() if v != "20240102"},
    )
    assert lineage.first_unsound(gap, "20240103") is None
    assert lineage.plan(gap, "20240104").ok


def test_the_lineage_guard_keeps_the_recorded_base_of_a_snapshot_built_before_a_gap_was_filled():
    """Snapshot 3 was built on 1 while 2 was missing; 2 was filled later (written after 3).
    Without 1, the proof would take 2 as 3's base and call 3 stale: 1 is kept."""
    imports = {"20240101": 1.0, "20240102": 2.0, "20240103": 3.0}
    snapshots = {"20240101": 1.5, "20240103": 3.5, "20240102": 4.0}
    recorded = {"20240103": "20240101", "20240102": "20240101"}
    inputs = lineage.Inputs(
        [lineage.Stage("increment", imports)], snapshots, recorded_base=recorded.get
    )
    assert lineage.first_unsound(inputs, "20240103") is None
    policy = RetentionPolicy(daily_days=1, month_ends=False)
    unguarded = plan_retention(snapshots, policy, TODAY)
    assert unguarded.delete == ["20240101", "20240102"]
    guarded = plan_retention(snapshots, policy, TODAY, guard=lineage_guard(inputs))
    assert guarded.delete == ["20240102"]
    assert "lineage proof would judge snapshot 20240103 unsound" in guarded.reason("20240101")


def test_the_recorded_base_guard_keeps_the_chain_under_a_kept_snapshot():
    bases = {"20240103": "20240102", "20240102": "20240101"}
    guard = recorded_base_guard(bases.get)
    assert guard(["20240103"], ["20240101", "20240102"]) == {
        "20240102": "kept: the recorded base of snapshot 20240103, which is kept",
        "20240101": "kept: the recorded base of snapshot 20240102, which is kept",
    }


def test_the_config_has_defaults_overrides_and_patterns():
    config = parse_retention(
        {
            "defaults": {"daily_days": 60},
            "tables": {
                "tascomi/applications": {"daily_days": 180},
                "alloy/*": {"month_end_days": 730},
                "alloy/graffiti/*": {"enabled": False},
            },
        },
        "retention.yaml",
    )
    assert config.policy_for("tascomi", "appeals") == RetentionPolicy(daily_days=60)
    assert config.policy_for("tascomi", "applications").daily_days == 180
    assert config.policy_for("alloy", "graffiti/graffiti") == RetentionPolicy(60, True, 730)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"defaults": {"daily_days": 0}}, "defaults: daily_days must be a whole number"),
        ({"defaults": {"daily_days": True}}, "daily_days must be a whole number"),
        ({"tables": {"applications": {}}}, "is not '<source>/<table>'"),
        ({"tables": {"tascomi/a": {"keep": 3}}}, r"unknown field\(s\) \['keep'\]"),
        ({"tables": {"tascomi/a": {"month_ends": "yes"}}}, "month_ends must be true or false"),
        ({"other": 1}, "expected a mapping with defaults and tables"),
    ],
)
def test_config_mistakes_name_the_file_and_entry(document, message):
    with pytest.raises(ConfigurationError, match=message) as raised:
        parse_retention(document, "retention.yaml")
    assert "retention.yaml" in str(raised.value)


def test_the_shipped_file_loads():
    from lbh_platform.retention import load_retention

    assert load_retention().defaults == RetentionPolicy()
