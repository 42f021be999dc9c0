"""Erasure as a Dagster job: a dry run changes nothing and says where the keys are; applied,
it erases them from every stage (the history too), audits the run id, and no key value is
stored anywhere in the run's records (config, logs, metadata); a failure fails the run."""

import dagster as dg

from lbh_platform.defs.platform.erasure import JOB, build_erasure
from lbh_platform.erasure import AuditLog, KeySet, find
from lbh_platform.history import maintain
from lbh_platform.lib.resources import LakeResource
from lbh_platform.tascomi.history import history_source
from lbh_platform.tascomi.housekeeping import tascomi_targets
from lbh_platform_tests.test_erasure_tascomi import DAYS, PERSON, SALT, TABLE, pipeline, value


def run(defs: dg.Definitions, instance, config: dict) -> dg.ExecuteInProcessResult:  # noqa: ANN001
    return defs.resolve_job_def(JOB).execute_in_process(
        instance=instance,
        run_config={"ops": {"erase_keys": {"config": config}}},
        raise_on_error=False,
    )


def everything_stored(instance, run_id: str) -> str:  # noqa: ANN001
    records = instance.all_logs(run_id)
    texts = [repr(r) for r in records]
    texts.append(repr(instance.get_run_by_id(run_id).run_config))
    return "\n".join(texts)


def test_the_job_dry_runs_then_erases_audited_without_the_values(tmp_path, monkeypatch):
    monkeypatch.setenv("LBH_ERASURE_SALT", SALT)
    resource = LakeResource(raw_zone=str(tmp_path / "raw"), refined_zone=str(tmp_path / "refined"))
    lake = resource.lake()
    pipeline(lake)
    history = history_source(lake, TABLE.name)
    for day in DAYS:
        maintain.update(history, value(day))
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(f"{PERSON}\n")
    targets = tascomi_targets(lake, TABLE.name)
    before = {
        (h.stage, h.partition) for found in find(targets, KeySet([str(PERSON)])) for h in found
    }
    assert any(stage == "history" for stage, _ in before)
    defs = dg.Definitions.merge(build_erasure(), dg.Definitions(resources={"lake": resource}))
    config = {"source": "tascomi", "table": TABLE.name, "keys_file": str(keys_file)}
    with dg.instance_for_test() as instance:
        dry = run(defs, instance, config)
        assert dry.success
        dry_logs = [e.message for e in instance.all_logs(dry.run_id) if e.message]
        assert any("partition(s) hold them; --apply erases them" in m for m in dry_logs)
        after_dry = {
            (h.stage, h.partition) for found in find(targets, KeySet([str(PERSON)])) for h in found
        }
        assert after_dry == before

        applied = run(defs, instance, {**config, "apply": True, "reference": "DPR-7"})
        assert applied.success
        assert not [h for found in find(targets, KeySet([str(PERSON)])) for h in found]
        [entry] = [
            e for e in AuditLog.of(lake).entries("erasure") if e.get("status") == "completed"
        ]
        assert entry["run_id"] == applied.run_id and entry["who"] == "dagster"
        for run_id in (dry.run_id, applied.run_id):
            assert str(PERSON) not in everything_stored(instance, run_id)
        assert str(PERSON) not in repr(AuditLog.of(lake).entries("erasure"))


def test_a_failed_erasure_fails_the_run_with_its_cause(tmp_path, monkeypatch):
    monkeypatch.delenv("LBH_ERASURE_SALT", raising=False)
    resource = LakeResource(raw_zone=str(tmp_path / "raw"), refined_zone=str(tmp_path / "refined"))
    pipeline(resource.lake())
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text(f"{PERSON}\n")
    defs = dg.Definitions.merge(build_erasure(), dg.Definitions(resources={"lake": resource}))
    config = {"source": "tascomi", "table": TABLE.name, "keys_file": str(keys_file), "apply": True}
    with dg.instance_for_test() as instance:
        result = run(defs, instance, config)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "LBH_ERASURE_SALT" in failure.event_specific_data.error.message
        assert str(PERSON) not in everything_stored(instance, result.run_id)
