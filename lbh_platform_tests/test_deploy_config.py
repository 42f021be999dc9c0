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
    # Step logs in a folder the code server's run workers and the webserver share.
    assert config["compute_logs"]["class"] == "LocalComputeLogManager"
    assert config["compute_logs"]["config"] == {"base_dir": {"env": "DAGSTER_COMPUTE_LOGS_DIR"}}


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


def test_every_service_has_a_health_check_and_the_step_log_volume():
    document = compose.load()
    services = document["services"]
    for name in ("postgres", *compose.DAGSTER_SERVICES):
        assert services[name].get("healthcheck", {}).get("test"), name
    for name in compose.DAGSTER_SERVICES:
        assert "compute-logs:/opt/dagster/compute_logs" in services[name]["volumes"], name
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"]["code_server"] == {"condition": "service_healthy"}
    assert document["x-dagster-env"]["DAGSTER_COMPUTE_LOGS_DIR"] == (
        "${DAGSTER_COMPUTE_LOGS_DIR:-/opt/dagster/compute_logs}"
    )
    env = {"DAGSTER_CODE_SERVER_PORT": "4100", "DAGSTER_WEBSERVER_PORT": "3100"}
    assert compose.healthcheck_command("code_server", env)[-2:] == ["-p", "4100"]
    assert "http://127.0.0.1:3100/server_info" in compose.healthcheck_command("webserver", env)[-1]
    daemon = compose.healthcheck_command("daemon", env)
    assert daemon[-2:] == ["dagster-daemon", "liveness-check"]
    assert "lbh_platform.deploy.entrypoint" in daemon  # the password may be a secret's


def test_service_environment_is_interpolated_as_compose_does(tmp_path):
    (tmp_path / ".env").write_text("FROM_FILE=1\nBOTH=file\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    env_file: [{path: .env, required: false}]\n"
        "    environment:\n      PASSED:\n      ABSENT:\n      BOTH: ${BOTH:-x}\n"
        "      DEFAULTED: ${DEFAULTED:-d}\n"
    )
    env = {"PASSED": "p", "BOTH": "host"}
    path = tmp_path / "compose.yaml"
    assert compose.service_environment("web", env, path) == {
        "FROM_FILE": "1",
        "PASSED": "p",  # no value: passed through when set ...
        "BOTH": "host",  # `environment` wins over env_file
        "DEFAULTED": "d",
    }  # ... and left out when not (ABSENT)
    assert "FROM_FILE" not in compose.service_environment("web", env, path, env_files=False)
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    env_file: missing.env\n")
    with pytest.raises(ConfigurationError, match="missing.env does not exist"):
        compose.service_environment("web", {}, path)


def test_a_service_gets_settings_only_through_the_compose_file(tmp_path):
    from lbh_platform.deploy.services import Topology

    host = {
        "PATH": "/usr/bin",
        "LBH_ENGINE": "spark",  # forwarded by the compose file
        "LBH_SIM_SCALE": "3",  # a setting the compose file does not forward
        "DAGSTER_PG_PASSWORD": "pw",
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    topology = Topology(host, tmp_path, homes={"webserver": tmp_path / "web"}, env_files=False)
    daemon, web = topology.environment("daemon"), topology.environment("webserver")
    assert daemon["LBH_ENGINE"] == "spark" and "LBH_SIM_SCALE" not in daemon
    assert daemon["LBH_DEPLOYMENT"] == "production" and daemon["PATH"].endswith("/usr/bin")
    assert daemon["DAGSTER_HOME"] == str(tmp_path / "home")
    assert web["DAGSTER_HOME"] == str(tmp_path / "web")
