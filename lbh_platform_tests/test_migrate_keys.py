"""An instance from before the source contract keeps what it knows: every partition
materialised under an asset's previous key is recorded under its new key, once."""

import dagster as dg

from lbh_platform.cli import migrate_keys
from lbh_platform.definitions import defs

OLD = dg.AssetKey(["tascomi", "snapshot", "applications"])
NEW = dg.AssetKey(["tascomi", "snapshot", "applications_snapshot"])
ALLOY_OLD = dg.AssetKey(["alloy", "api_response", "graffiti", "graffiti_incident_look_up_1"])
ALLOY_NEW = dg.AssetKey(
    ["alloy", "api_response", "graffiti", "graffiti_graffiti_incident_look_up_1_api_response"]
)


def test_every_moved_key_is_a_key_of_the_code_location():
    moves = migrate_keys.key_moves()
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert (OLD, NEW) in moves and (ALLOY_OLD, ALLOY_NEW) in moves
    assert {new for _, new in moves} == set(keys)
    assert not {old for old, _ in moves} & set(keys)


def test_published_partitions_move_once_and_a_rerun_moves_nothing(monkeypatch, capsys):
    with dg.instance_for_test() as instance:
        for day in ("2024-03-04", "2024-03-05"):
            instance.report_runless_asset_event(dg.AssetMaterialization(OLD, partition=day))
        instance.report_runless_asset_event(
            dg.AssetMaterialization(ALLOY_OLD, partition="2024-03-05")
        )
        instance.report_runless_asset_event(dg.AssetMaterialization(NEW, partition="2024-03-05"))
        monkeypatch.setattr(dg.DagsterInstance, "get", staticmethod(lambda: instance))

        assert migrate_keys.main([]) == 0
        assert "2 partitions of 2 assets would move" in capsys.readouterr().out
        assert instance.get_materialized_partitions(NEW) == {"2024-03-05"}

        assert migrate_keys.main(["--apply"]) == 0
        assert instance.get_materialized_partitions(NEW) == {"2024-03-04", "2024-03-05"}
        assert instance.get_materialized_partitions(ALLOY_NEW) == {"2024-03-05"}
        moved = instance.get_latest_materialization_event(ALLOY_NEW).asset_materialization
        assert moved.metadata["lbh.migrated_from"].value == ALLOY_OLD.to_user_string()

        capsys.readouterr()
        assert migrate_keys.main(["--apply"]) == 0
        assert "recorded 0 partitions" in capsys.readouterr().out


def test_a_monitoring_override_under_a_key_from_before_fails_the_load(tmp_path, monkeypatch):
    import pytest

    from lbh_platform.common.errors import ConfigurationError
    from lbh_platform.definitions import load_definitions

    stale = tmp_path / "monitoring.yaml"
    stale.write_text("volume:\n  overrides:\n    'tascomi/increment/wards': {lower: 0}\n")
    monkeypatch.setenv("LBH_MONITORING_FILE", str(stale))
    with pytest.raises(ConfigurationError, match="tascomi/increment/wards") as error:
        load_definitions()
    assert "<table>_<stage>" in str(error.value)
    stale.write_text("volume:\n  overrides:\n    'tascomi/increment/wards_increment': {lower: 0}\n")
    assert load_definitions().resolve_asset_graph()
