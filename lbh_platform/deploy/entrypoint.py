"""Start one production service: ``python -m lbh_platform.deploy.entrypoint [--init-pools] CMD…``.

Every container of deploy/docker-compose.yaml (code server, webserver, daemon) and any
one-off command (``dagster instance migrate``) goes through this: it resolves the
``DAGSTER_PG_*`` settings (defaults, the password from the environment or Secrets Manager)
and the compute-log folder, checks the connection, and then replaces itself with the command,
so the service's pid, signals and exit code are the command's own. A bad setting stops it
here, with one line naming the setting and exit code 2; the password is never printed.
``--init-pools`` (the daemon) first gives every pool its limit row (see ``pools.py``).
"""

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from lbh_platform import settings_registry as registry
from lbh_platform.common.errors import ConfigurationError
from lbh_platform.deploy.postgres_settings import process_environment, resolve
from lbh_platform.deploy.preflight import check_connection

EXIT_MISCONFIGURED = 2
COMPUTE_LOGS = "DAGSTER_COMPUTE_LOGS_DIR"


def compute_logs_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``DAGSTER_COMPUTE_LOGS_DIR`` (deploy/dagster.yaml reads it), ``$DAGSTER_HOME/storage``
    when unset (Dagster's own default), created if missing."""
    folder = registry.get(COMPUTE_LOGS, env)
    if not folder:
        home = registry.get("DAGSTER_HOME", env)
        if not home:
            raise ConfigurationError(f"set {COMPUTE_LOGS} or DAGSTER_HOME")
        folder = str(Path(home) / "storage")
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create {COMPUTE_LOGS} folder {folder}: {exc.strerror}"
        ) from None
    return {COMPUTE_LOGS: folder}


def main(argv: list[str]) -> int:
    init_pools = bool(argv) and argv[0] == "--init-pools"
    if init_pools:
        argv = argv[1:]
    if not argv:
        print("usage: python -m lbh_platform.deploy.entrypoint <command> [args…]", file=sys.stderr)
        return EXIT_MISCONFIGURED
    name = " ".join(argv[:2])
    try:
        settings = resolve()
        check_connection(settings)
    except ConfigurationError as exc:
        print(f"lbh_platform: cannot start `{name}`: {exc}", file=sys.stderr, flush=True)
        return EXIT_MISCONFIGURED
    print(f"lbh_platform: PostgreSQL {settings.where()} reachable; starting `{name}`", flush=True)
    env = process_environment(settings, registry.process_environment())
    try:
        env.update(compute_logs_environment(env))
    except ConfigurationError as exc:
        print(f"lbh_platform: cannot start `{name}`: {exc}", file=sys.stderr, flush=True)
        return EXIT_MISCONFIGURED
    if init_pools:
        # In a child process with the resolved settings (dagster.yaml reads them from the
        # environment), so this process stays free of Dagster state before the exec.
        import subprocess

        done = subprocess.run([sys.executable, "-m", "lbh_platform.deploy.pools"], env=env)
        if done.returncode:
            print(
                f"lbh_platform: cannot start `{name}`: setting pool limits failed",
                file=sys.stderr,
                flush=True,
            )
            return done.returncode
    sys.stdout.flush()
    os.execvpe(argv[0], argv, env)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
