"""A PostgreSQL server of our own on loopback, for the tests and ``make serve``.

Debian's ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``) provides ``initdb`` and
``postgres``. The server runs as a non-root user (PostgreSQL refuses root; CI runs as root, so
the package's ``postgres`` user is used there), listens on 127.0.0.1 only at a free port, keeps
its Unix socket inside its own folder, and is stopped by its pid. Host connections need a
password (scram-sha-256); the socket trusts the server's own OS user, which is how ``start``
sets the password each time without ever writing it to a file.
"""

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from lbh_platform import settings_registry as registry

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
NON_ROOT_USER = "postgres"  # created by Debian's postgresql package


class LocalPostgresError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _version(bin_dir: Path) -> int:
    name = bin_dir.parent.name
    return int(name) if name.isdigit() else -1


def pg_bin_dir() -> Path:
    """The newest installed server's bin folder (``LBH_PG_BIN`` overrides)."""
    override = registry.get("LBH_PG_BIN")
    if override:
        candidates = [Path(override)]
    else:
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version)
    for candidate in reversed(candidates):
        if (candidate / "initdb").exists() and (candidate / "postgres").exists():
            return candidate
    raise LocalPostgresError(
        f"no PostgreSQL server found ({override or PG_BIN_GLOB}/initdb): run "
        "`bash scripts/install-test-deps.sh` (as root) or `apt-get install postgresql`"
    )


class LocalPostgres:
    """``initdb`` (once) into ``root/data`` and run ``postgres`` from it until ``stop``.

    ``root`` must be reachable by the server's OS user (``tempfile.mkdtemp`` under /tmp is);
    it is chowned to that user when running as root.
    """

    def __init__(
        self,
        root: Path,
        *,
        password: str,
        user: str = "dagster",
        database: str = "dagster",
        port: int | None = None,
        durable: bool = True,
    ):
        self.root = Path(root)
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log_path = self.root / "postgres.log"
        self.user = user
        self.database = database
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._password = password
        self._durable = durable  # fsync off is for throwaway test servers only
        self.process: subprocess.Popen | None = None
        self._os_user = NON_ROOT_USER if os.geteuid() == 0 else None

    def __repr__(self) -> str:  # never the password
        return f"LocalPostgres({self.host}:{self.port}, db={self.database!r}, user={self.user!r})"

    # -- lifecycle -------------------------------------------------------------------------

    def _as_server_user(self) -> dict:
        if self._os_user is None:
            return {}
        try:
            pwd.getpwnam(self._os_user)
        except KeyError:
            raise LocalPostgresError(
                f"running as root and there is no {self._os_user!r} user to run PostgreSQL as: "
                "`apt-get install postgresql` creates it"
            ) from None
        return {"user": self._os_user, "group": self._os_user}

    def _chown(self, path: Path) -> None:
        if self._os_user is not None:
            shutil.chown(path, self._os_user, self._os_user)

    def start(self, timeout: float = 120) -> "LocalPostgres":
        bin_dir = pg_bin_dir()
        as_user = self._as_server_user()
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        for path in (self.root, self.socket_dir):
            self._chown(path)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir, as_user)
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-c",
                    f"listen_addresses={self.host}",
                    "-c",
                    f"port={self.port}",
                    "-c",
                    f"unix_socket_directories={self.socket_dir}",
                    "-c",
                    "max_connections=200",
                    "-c",
                    f"fsync={'on' if self._durable else 'off'}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.root,
                **as_user,
            )
        finally:
            log.close()
        try:
            self._wait_ready(timeout)
            self._set_password_and_database(bin_dir, as_user)
        except BaseException:
            self.stop()
            raise
        return self

    def _initdb(self, bin_dir: Path, as_user: dict) -> None:
        self.data_dir.mkdir(exist_ok=True)
        self._chown(self.data_dir)
        done = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.root,
            **as_user,
        )
        if done.returncode:
            who = f" as {self._os_user!r} (it needs access to every folder above {self.root})"
            raise LocalPostgresError(
                f"initdb failed{who if self._os_user else ''}: {done.stderr.strip()}"
            )

    def _psql(self, bin_dir: Path, as_user: dict, sql: str, database: str = "postgres") -> str:
        """Run SQL over the Unix socket (trusted for the server's own user); SQL on stdin, so
        nothing secret is on a command line."""
        done = subprocess.run(
            [
                str(bin_dir / "psql"),
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
            ],
            input=sql,
            text=True,
            capture_output=True,
            cwd=self.root,
            **as_user,
        )
        if done.returncode:
            raise LocalPostgresError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise LocalPostgresError(
                    f"postgres exited with {self.process.returncode}: {self.log_tail()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=1),
            ):
                if (self.socket_dir / f".s.PGSQL.{self.port}").exists():
                    return
            time.sleep(0.2)
        raise LocalPostgresError(f"postgres not ready after {timeout:.0f}s: {self.log_tail()}")

    def _set_password_and_database(self, bin_dir: Path, as_user: dict) -> None:
        deadline = time.monotonic() + 60
        while True:  # the server may still be starting up ("the database system is starting")
            try:
                exists = self._psql(
                    bin_dir, as_user, f"select 1 from pg_database where datname = '{self.database}'"
                )
                break
            except LocalPostgresError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        if not exists.strip():
            self._psql(bin_dir, as_user, f'create database "{self.database}"')
        quoted = self._password.replace("'", "''")
        self._psql(bin_dir, as_user, f"alter role \"{self.user}\" password '{quoted}'")

    def stop(self, timeout: float = 60) -> None:
        """Fast shutdown (SIGINT) by pid; SIGKILL if it does not go in time."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def __enter__(self) -> "LocalPostgres":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- use -------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """The ``DAGSTER_PG_*`` settings of ``deploy/dagster.yaml`` for this server."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": self.database,
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self._password,
        }

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def temporary_root(prefix: str = "lbh-pg-") -> Path:
    """A fresh folder under the system temp dir (world-traversable parent, so the server's
    non-root user can reach it)."""
    return Path(tempfile.mkdtemp(prefix=prefix))
