"""The plumbing shared by the built-in API simulators: an HTTP server on loopback, served from
a daemon thread, with a clock the tests can set."""

import contextlib
import socket
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar


def aware(moment: datetime) -> datetime:
    """Naive datetimes are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class LoopbackService:
    """Subclasses set ``api_prefix`` and ``handler_class`` (whose handlers reach the service as
    ``self.server.simulator`` and call ``track``/``untrack`` on their connections)."""

    api_prefix: ClassVar[str] = "/"
    handler_class: ClassVar[type[BaseHTTPRequestHandler]]
    thread_name: ClassVar[str] = "simulator"

    def _init_service(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._now: datetime | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    @property
    def base_url(self) -> str | None:
        """``http://host:port<api_prefix>`` once started, else None."""
        if self._server is None:
            return None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.api_prefix}"

    def start(self) -> str:
        """Bind (port 0 picks a free port) and serve from a daemon thread; returns the base URL."""
        if self._server is None:
            server = ThreadingHTTPServer((self.host, self.port), self.handler_class)
            server.daemon_threads = True
            server.simulator = self  # type: ignore[attr-defined]
            self._server = server
            # A short poll interval makes stop() quick (shutdown waits for the next poll).
            self._thread = threading.Thread(
                target=server.serve_forever, args=(0.05,), name=self.thread_name, daemon=True
            )
            self._thread.start()
        url = self.base_url
        assert url is not None
        return url

    def stop(self) -> None:
        """Stop serving and close keep-alive connections so no handler thread lingers."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def set_now(self, moment: datetime | None) -> None:
        """What the API treats as now (naive = UTC); None goes back to real time."""
        self._now = None if moment is None else aware(moment)

    @property
    def now(self) -> datetime:
        return self._now if self._now is not None else datetime.now(UTC)


class LoopbackHandler(BaseHTTPRequestHandler):
    """Keep-alive handler that registers its connection with the service (so ``stop`` can
    close it) and stays quiet; subclasses route requests."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # reap idle keep-alive connections

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle plus delayed ACKs
        # add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.simulator.track(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.simulator.untrack(self.connection)  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the simulator's request log is the record."""
