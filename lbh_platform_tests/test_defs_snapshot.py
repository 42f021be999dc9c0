"""The whole code location, snapshotted: every asset spec (key, deps, partitions, group,
owners, tags, kinds, automation condition, checks), every job's selection, every schedule and
sensor. A change to any of them shows up here as a diff to review; accept an intended one with
``pytest lbh_platform_tests/test_defs_snapshot.py --snapshot-update``."""

import importlib
from typing import Any

import dagster as dg
import pytest

from lbh_platform import settings_registry

PINNED = {"LBH_DEPLOYMENT": "embedded"}  # what a fresh checkout loads


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Any:
    with pytest.MonkeyPatch.context() as patch:
        for setting in settings_registry.every_setting():
            if setting.pattern:
                continue
            patch.delenv(setting.name, raising=False)
        for name, value in PINNED.items():
            patch.setenv(name, value)
        root = tmp_path_factory.mktemp("zones")
        patch.chdir(root)
        import lbh_platform.definitions as definitions

        defs = importlib.reload(definitions).load_definitions()
        return defs.get_repository_def()


def _partitions(partitions_def: dg.PartitionsDefinition | None) -> str | None:
    if partitions_def is None:
        return None
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return (
            f"{type(partitions_def).__name__}(start={partitions_def.start:%Y-%m-%d}, "
            f"cron={partitions_def.cron_schedule}, tz={partitions_def.timezone}, "
            f"end_offset={partitions_def.end_offset})"
        )
    return repr(partitions_def)


def _spec(assets_def: dg.AssetsDefinition, key: dg.AssetKey) -> dict:
    spec = next(s for s in assets_def.specs if s.key == key)
    condition = spec.automation_condition
    return {
        "key": key.to_user_string(),
        "deps": sorted(d.asset_key.to_user_string() for d in spec.deps),
        "partitions": _partitions(assets_def.partitions_def),
        "group": spec.group_name,
        "owners": list(spec.owners),
        "tags": dict(sorted(spec.tags.items())),
        "kinds": sorted(spec.kinds),
        "pool": assets_def.op.pool if assets_def.is_executable else None,
        "backfill_policy": str(assets_def.backfill_policy) if assets_def.backfill_policy else None,
        "automation_condition": condition.get_label() or type(condition).__name__
        if condition
        else None,
        "checks": [],  # filled from the asset graph
    }


def test_assets(repository, snapshot):
    graph = repository.asset_graph
    specs = []
    for assets_def in graph.assets_defs:
        for key in sorted(assets_def.keys, key=lambda k: k.to_user_string()):
            specs.append(_spec(assets_def, key))
    specs.sort(key=lambda s: s["key"])
    checks: dict[str, list[str]] = {}
    for check_key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string()):
        spec = graph.get_check_spec(check_key)
        label = f"{check_key.name}{' (blocking)' if spec.blocking else ''}"
        checks.setdefault(check_key.asset_key.to_user_string(), []).append(label)
    for spec in specs:
        spec["checks"] = sorted(checks.get(spec["key"], []))
    assert [s["key"] for s in specs] == snapshot(name="asset_keys")
    assert specs == snapshot(name="asset_specs")


def test_jobs(repository, snapshot):
    jobs = []
    for job in sorted(repository.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        selection = sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys)
        jobs.append({"name": job.name, "assets": selection})
    assert jobs == snapshot


def test_schedules_and_sensors(repository, snapshot):
    schedules = [
        {
            "name": s.name,
            "cron": s.cron_schedule,
            "timezone": s.execution_timezone,
            "job": s.job_name,
            "default_status": s.default_status.value,
        }
        for s in sorted(repository.schedule_defs, key=lambda s: s.name)
    ]
    sensors = [
        {
            "name": s.name,
            "type": type(s).__name__,
            "default_status": s.default_status.value,
            "interval_seconds": s.minimum_interval_seconds,
        }
        for s in sorted(repository.sensor_defs, key=lambda s: s.name)
    ]
    assert {"schedules": schedules, "sensors": sensors} == snapshot
