"""The production topology in a sandbox: a real PostgreSQL, the simulators, a dead-man's-switch
monitor, and the code server, webserver and daemon started with exactly the commands and the
environment of deploy/docker-compose.yaml.

Everything lives in one temporary folder (the zones, a small table list, the compute-log
folder the services share, and two ``DAGSTER_HOME`` folders holding a verbatim copy of
deploy/dagster.yaml: one for the code server and daemon, one for the webserver, as in compose
where each container has its own); every process is stopped by its pid at the end, and any
process still carrying the sandbox's marker in its environment is killed.
"""

import contextlib
import os
import secrets
import shutil
import socket
import uuid
from datetime import date, timedelta
from pathlib import Path

from lbh_platform.alloy.datasets import DEFAULT_DATASETS_DIR, load_datasets
from lbh_platform.deploy.local_postgres import LocalPostgres, temporary_root
from lbh_platform.deploy.services import Topology
from lbh_platform_tests.e2e.harness import (
    _CLEARED,
    MARKER,
    WebserverClient,
    _pause_the_rest,
    end_marked,
    free_port,
    marked_pids,
    wait_for,
)
from lbh_platform_tests.heartbeat_receiver import HeartbeatReceiver

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
TABLES_YAML = """tables:
  - {name: appeals, cadence: daily}
  - {name: applications, cadence: daily, completeness_column: application_reference_number}
"""
SERVICES = ("code_server", "webserver", "daemon")


class Client(WebserverClient):
    def __init__(self, url: str, sandbox: "Sandbox"):
        super().__init__(url)
        self.sandbox = sandbox

    def check_alive(self) -> None:
        self.sandbox.check_alive()


class Sandbox:
    def __init__(self) -> None:
        self.root = temporary_root("lbh-deploy-")
        self.home = self.root / "dagster_home"  # the code server's and the daemon's
        self.web_home = self.root / "webserver_home"
        self.compute_logs = self.root / "compute_logs"
        self.raw_zone = self.root / "raw-zone"
        self.refined_zone = self.root / "refined-zone"
        self.logs = self.root / "logs"
        self.marker = uuid.uuid4().hex
        self.password = "pw-" + secrets.token_urlsafe(18)
        # Its own folder under /tmp: the server's non-root user cannot enter self.root.
        self.pg_root = temporary_root("lbh-deploy-pg-")
        self.postgres = LocalPostgres(self.pg_root, password=self.password, durable=False)
        self.simulators = None
        self.topology: Topology | None = None
        self.web: Client | None = None
        self._saved_environ: dict[str, str] | None = None

        for home in (self.home, self.web_home):
            home.mkdir(parents=True)
            shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")  # verbatim
        self.heartbeat = HeartbeatReceiver()
        tables = self.root / "tables.yaml"
        tables.write_text(_pause_the_rest(tables, TABLES_YAML))
        alloy = self.root / "alloy"
        alloy.mkdir()
        smallest = min(load_datasets(DEFAULT_DATASETS_DIR), key=lambda d: len(d.tables))
        shutil.copy(smallest.source, alloy / smallest.source.name)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        from lbh_platform_devkit.local import LocalStandIns
        from lbh_platform_devkit.stand_ins import LocalWorld

        self.postgres.start()
        self.heartbeat.__enter__()
        # The simulators run in this process and set TASCOMI_* / ALLOY_* in os.environ:
        # restored on stop.
        self._saved_environ = dict(os.environ)
        for name in _CLEARED:
            os.environ.pop(name, None)
        # The stand-ins serve what the services load (restored with the rest on stop).
        os.environ["LBH_TASCOMI_TABLES_FILE"] = str(self.root / "tables.yaml")
        os.environ["LBH_ALLOY_DATASETS_DIR"] = str(self.root / "alloy")
        self.simulators = LocalStandIns(LocalWorld(epoch=date.today() - timedelta(days=60)))
        self.simulators.__enter__()
        env = {k: v for k, v in self._saved_environ.items() if k not in _CLEARED}
        env.update({k: os.environ[k] for k in os.environ if k.startswith(("TASCOMI_", "ALLOY_"))})
        env.update(self.postgres.environment())
        self.code_port, self.web_port = free_port(), free_port()
        env.update(
            DAGSTER_HOME=str(self.home),
            DAGSTER_COMPUTE_LOGS_DIR=str(self.compute_logs),
            LBH_HEARTBEAT_URL=self.heartbeat.url,
            LBH_RAW_ZONE=str(self.raw_zone),
            LBH_REFINED_ZONE=str(self.refined_zone),
            LBH_TASCOMI_TABLES_FILE=str(self.root / "tables.yaml"),
            LBH_ALLOY_DATASETS_DIR=str(self.root / "alloy"),
            DAGSTER_CODE_SERVER_BIND="127.0.0.1",
            DAGSTER_CODE_SERVER_HOST="127.0.0.1",
            DAGSTER_CODE_SERVER_PORT=str(self.code_port),
            DAGSTER_WEBSERVER_BIND="127.0.0.1",
            DAGSTER_WEBSERVER_PORT=str(self.web_port),
            DAGSTER_WORKSPACE=str(DEPLOY / "workspace.yaml"),
            PYTHONUNBUFFERED="1",
            **{MARKER: self.marker},
        )
        self.env = env
        # The services get the compose file's environment (not deploy/.env: the sandbox's
        # settings are its own), each with its own DAGSTER_HOME.
        self.topology = Topology(
            env, self.logs, cwd=self.root, homes={"webserver": self.web_home}, env_files=False
        )
        self.web = Client(f"http://127.0.0.1:{self.web_port}", self)
        self.topology.start("code_server")
        wait_for("the code server's port", self._code_server_listening, 180, 0.5, self.check_alive)
        self.topology.start("webserver")
        self.topology.start("daemon")
        self.web.wait_until_loaded(timeout=180)

    def _code_server_listening(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.code_port), timeout=1),
        ):
            return True
        return False

    def check_alive(self) -> None:
        if self.topology is None:
            return
        for name, service in self.topology.services.items():
            if not service.running():
                raise AssertionError(f"{name} exited:\n{service.log_tail()}")

    def stop(self) -> None:
        try:
            if self.topology is not None:
                self.topology.stop()
            self._kill_leftovers()
        finally:
            if self.simulators is not None:
                self.simulators.close()
            self.heartbeat.__exit__(None, None, None)
            if self._saved_environ is not None:
                os.environ.clear()
                os.environ.update(self._saved_environ)
            self.postgres.stop()

    def leftover_pids(self) -> list[int]:
        return marked_pids(self.marker)

    def _kill_leftovers(self) -> None:
        end_marked(self.marker)

    def all_logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log"))
        ) + self.postgres.log_tail(10_000)
