"""``make serve``: the production topology on one machine, against a local PostgreSQL.

The same three services as deploy/docker-compose.yaml (code server, webserver, daemon),
started with exactly its commands and environment (so ``LBH_DEPLOYMENT`` is ``production``:
the schedules and sensors run as in production), sharing a PostgreSQL server of its own under
``.serve/`` (initdb on first use; kept, so history survives restarts), ``.serve/dagster_home``
holding deploy/dagster.yaml and ``.serve/compute_logs``. The APIs are the configured ones;
``make serve`` runs ``lbh_platform_devkit.serve``, which passes in the development kit's
stand-ins for those not configured. Ctrl-C stops everything, by pid.
"""

import contextlib
import secrets
import shutil
import signal
import socket
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from lbh_platform import settings_registry as registry
from lbh_platform.deploy.compose import COMPOSE_FILE
from lbh_platform.deploy.local_postgres import LocalPostgres, free_port
from lbh_platform.deploy.services import Topology

DEPLOY_DIR = COMPOSE_FILE.parent


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(local_apis: Callable[[], AbstractContextManager] | None = None) -> int:
    """Serve until Ctrl-C; ``local_apis`` starts stand-ins for the APIs (set in the
    environment while its context is open), after the zones' defaults are set."""
    root = Path(registry.get("LBH_SERVE_DIR") or ".serve").resolve()
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEPLOY_DIR / "dagster.yaml", home / "dagster.yaml")
    registry.set_default("LBH_RAW_ZONE", str(Path("data/raw-zone").resolve()))
    registry.set_default("LBH_REFINED_ZONE", str(Path("data/refined-zone").resolve()))

    # A fresh password each start, set over the server's trusted local socket: it is only
    # ever in these processes' environments.
    password = registry.get("DAGSTER_PG_PASSWORD") or secrets.token_urlsafe(24)
    postgres = LocalPostgres(
        root / "postgres", password=password, port=int(registry.get("LBH_SERVE_PG_PORT") or "0")
    )
    simulators = local_apis() if local_apis is not None else nullcontext()

    host = registry.get("LBH_DEV_HOST")
    port = registry.get("LBH_DEV_PORT")
    code_port = str(free_port())
    topology: Topology | None = None
    with postgres, simulators:
        env = registry.process_environment()
        env.update(postgres.environment())
        env.update(
            DAGSTER_HOME=str(home),
            DAGSTER_COMPUTE_LOGS_DIR=registry.get("DAGSTER_COMPUTE_LOGS_DIR")
            or str(root / "compute_logs"),
            DAGSTER_CODE_SERVER_BIND="127.0.0.1",
            DAGSTER_CODE_SERVER_HOST="127.0.0.1",
            DAGSTER_CODE_SERVER_PORT=code_port,
            DAGSTER_WEBSERVER_BIND=host,
            DAGSTER_WEBSERVER_PORT=port,
            DAGSTER_WORKSPACE=str(DEPLOY_DIR / "workspace.yaml"),
            PYTHONUNBUFFERED="1",
        )
        topology = Topology(env, root / "logs")
        try:
            topology.start("code_server")
            deadline = time.monotonic() + 300
            while not _listening(int(code_port)):
                if topology.exited() or time.monotonic() > deadline:
                    print(topology.services["code_server"].log_tail())
                    return 1
                time.sleep(0.5)
            topology.start("webserver")
            topology.start("daemon")
            print(
                f"serving: UI http://{host}:{port}  PostgreSQL {postgres.host}:{postgres.port}"
                f"  logs {root / 'logs'}  (Ctrl-C stops)",
                flush=True,
            )
            signal.signal(signal.SIGTERM, _interrupt)  # `kill <pid>` stops it like Ctrl-C
            while not topology.exited():
                time.sleep(1)
            for name in topology.exited():
                print(f"{name} exited:\n{topology.services[name].log_tail()}", flush=True)
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            topology.stop()


if __name__ == "__main__":
    raise SystemExit(main())
