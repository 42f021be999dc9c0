"""Run the compose file's Dagster services as local processes (``make serve``, the tests).

Each service is its compose ``entrypoint`` + ``command`` with its compose ``environment`` (see
``compose.py``) in its own process group, logging to ``<log_dir>/<service>.log``. Stopping
sends SIGTERM to the group, then SIGKILL to whatever is left, by pid; nothing is found by
name.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from lbh_platform import settings_registry as registry
from lbh_platform.deploy import compose


def with_python_on_path(env: Mapping[str, str]) -> dict[str, str]:
    """``python``, ``dagster`` … resolve to this interpreter's environment (the image's
    ``PATH`` in a container)."""
    env = dict(env)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])
    return env


class Service:
    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path, cwd):
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.log_path = Path(log_dir) / f"{name}.log"
        self.cwd = cwd
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> "Service":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the service's own process only (its children, e.g. run workers, live on)."""
        if self.running():
            assert self.process is not None
            os.kill(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to the group, then SIGKILL to the group if anything is left."""
        if self.process is None:
            return
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _platform_setting(name: str) -> bool:
    try:
        registry.declared(name)
    except KeyError:
        return False
    return True


class Topology:
    """Code server, webserver and daemon from ``compose_file``, with ``env`` as the host's
    environment (what Compose interpolates from).

    Each service's process gets what its container would: the host's variables that are not
    platform settings (``PATH``, ``PYTHONPATH``: the image's own), then the compose file's
    ``environment`` for it, so a setting reaches a service only through the compose file.
    ``DAGSTER_HOME`` is the container's own folder: ``homes[service]``, else the host's.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        compose_file: Path = compose.COMPOSE_FILE,
        cwd: Path | None = None,
        homes: Mapping[str, Path | str] | None = None,
        env_files: bool = True,
    ):
        self.env = with_python_on_path(env)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.compose_file = compose_file
        self.cwd = cwd
        self.homes = {name: str(home) for name, home in (homes or {}).items()}
        self.env_files = env_files
        self.services: dict[str, Service] = {}

    def command(self, name: str, env: Mapping[str, str] | None = None) -> list[str]:
        return compose.service_command(name, env or self.env, self.compose_file)

    def environment(
        self, name: str, env: Mapping[str, str] | None = None, home: Path | str | None = None
    ) -> dict[str, str]:
        """The process environment of service ``name`` (``env`` overrides the host's)."""
        host = with_python_on_path(env) if env is not None else self.env
        result = {k: v for k, v in host.items() if not _platform_setting(k)}
        result.update(
            compose.service_environment(name, host, self.compose_file, env_files=self.env_files)
        )
        home = home or self.homes.get(name) or host.get("DAGSTER_HOME")
        if home:
            result["DAGSTER_HOME"] = str(home)
        return result

    def start(
        self, name: str, env: Mapping[str, str] | None = None, home: Path | str | None = None
    ) -> Service:
        """Start (or restart) one service; ``env`` overrides the host's environment, ``home``
        the service's ``DAGSTER_HOME``."""
        if name in self.services:
            self.services[name].stop()
        host = with_python_on_path(env) if env is not None else self.env
        service = Service(
            name,
            self.command(name, host),
            self.environment(name, host, home),
            self.log_dir,
            self.cwd,
        )
        self.services[name] = service.start()
        return service

    def healthcheck(
        self, name: str, env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        """Run the service's compose health check once, in the service's environment (``env``
        overrides the host's)."""
        host = with_python_on_path(env) if env is not None else self.env
        return subprocess.run(
            compose.healthcheck_command(name, host, self.compose_file),
            env=self.environment(name, host),
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self) -> None:
        """Clients first, the code server (and its run workers) last."""
        for name in ("webserver", "daemon", "code_server"):
            if name in self.services:
                self.services[name].stop()

    def exited(self) -> list[str]:
        return [name for name, s in self.services.items() if not s.running()]

    def wait_for_exit(self, name: str, timeout: float) -> int:
        service = self.services[name]
        assert service.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = service.process.poll()
            if code is not None:
                return code
            time.sleep(0.2)
        raise TimeoutError(f"{name} still running after {timeout:.0f}s")
