"""The shipped deployment files and the start-up settings, without starting servers."""

from pathlib import Path

import pytest
import yaml

from lbh_platform.common.errors import ConfigurationError
from lbh_platform.deploy import compose, postgres_settings
from lbh_platform.deploy.preflight import explain

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PG_ENV = {
    "DAGSTER_PG_HOST": "db",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "hunter2-secret",
}


def test_dagster_yaml_is_a_valid_instance_config(tmp_path, monkeypatch):
    from dagster._core.instance.config import dagster_instance_config

    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["storage"]["postgres"]["postgres_db"]["password"] == {
        "env": "DAGSTER_PG_PASSWORD"
    }
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "run"}
    assert config["run_monitoring"]["enabled"] and config["run_retries"]["enabled"]
    assert config["telemetry"] == {"enabled": False}


def test_dagster_yaml_reads_exactly_the_entrypoint_settings():
    document = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    db = document["storage"]["postgres"]["postgres_db"]
    referenced = {v["env"] for v in db.values() if isinstance(v, dict)}
    assert referenced == set(postgres_settings.CONFIG_VARIABLES)
    assert "hunter2" not in (DEPLOY / "dagster.yaml").read_text()


def test_workspace_points_at_the_code_server():
    document = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    server = document["load_from"][0]["grpc_server"]
    assert server["host"] == {"env": "DAGSTER_CODE_SERVER_HOST"}
    assert server["location_name"] == "lbh_platform"


def test_compose_commands_are_interpolated_as_compose_does():
    env = {"DAGSTER_CODE_SERVER_BIND": "127.0.0.1", "DAGSTER_CODE_SERVER_PORT": "4100"}
    argv = compose.service_command("code_server", env)
    assert argv[:3] == ["python", "-m", "lbh_platform.deploy.entrypoint"]
    assert argv[3:6] == ["dagster", "code-server", "start"]
    assert argv[argv.index("-h") + 1] == "127.0.0.1" and argv[argv.index("-p") + 1] == "4100"
    daemon = compose.service_command("daemon", {})
    assert "--init-pools" in daemon and daemon[-1] == "/opt/dagster/app/deploy/workspace.yaml"
    assert compose.substitute("$${A} ${B-x} ${C:-y} ${D}", {"B": "", "C": ""}) == "${A}  y "
    with pytest.raises(ConfigurationError, match="PW is required"):
        compose.substitute("${PW:?set it}", {})


def test_settings_defaults_and_a_missing_password():
    settings = postgres_settings.resolve({"DAGSTER_PG_PASSWORD": "pw-1"})
    assert (settings.host, settings.port, settings.database, settings.user) == (
        "localhost",
        5432,
        "dagster",
        "dagster",
    )
    assert "pw-1" not in repr(settings)
    with pytest.raises(ConfigurationError, match="DAGSTER_PG_PASSWORD.*DAGSTER_PG_SECRET_ID"):
        postgres_settings.resolve({})
    with pytest.raises(ConfigurationError, match="DAGSTER_PG_PORT"):
        postgres_settings.resolve({"DAGSTER_PG_PASSWORD": "x", "DAGSTER_PG_PORT": "five"})


def test_password_from_secrets_manager_through_the_secrets_seam():
    calls = []

    def read_secret(secret_id, fields, *, variable):
        calls.append((secret_id, list(fields), variable))
        return {"password": "from-the-secret"}

    settings = postgres_settings.resolve(
        {"DAGSTER_PG_SECRET_ID": "rds!db-123"}, read_secret=read_secret
    )
    assert settings.password == "from-the-secret"
    assert calls == [("rds!db-123", ["password"], "DAGSTER_PG_SECRET_ID")]
    assert "DAGSTER_PG_SECRET_ID" in settings.password_source
    env = postgres_settings.process_environment(settings, {})
    assert env["DAGSTER_PG_PASSWORD"] == "from-the-secret" and env["DAGSTER_PG_PORT"] == "5432"


def test_driver_messages_become_the_setting_to_fix_without_the_password():
    settings = postgres_settings.resolve(PG_ENV)
    auth = explain(settings, 'FATAL:  password authentication failed for user "dagster"')
    assert "DAGSTER_PG_PASSWORD" in str(auth) and "hunter2" not in str(auth)
    missing_db = explain(settings, 'FATAL:  database "dagster" does not exist')
    assert "DAGSTER_PG_DB" in str(missing_db)
    refused = explain(settings, "connection refused hunter2-secret\nmore")
    assert "DAGSTER_PG_HOST" in str(refused) and "hunter2" not in str(refused)
