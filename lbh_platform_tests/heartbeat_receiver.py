"""A loopback dead-man's-switch monitor: counts the GETs to its path (tests own and stop it)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HeartbeatReceiver:
    """Counts pings to ``path`` (a token in the path, as healthchecks.io's check URLs have);
    ``status`` is what it answers."""

    def __init__(self, path: str = "/ping/hb-T0KEN-5f0e1d2c"):
        self.path = path
        self.pings = 0
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                if self.path == receiver.path:
                    receiver.pings += 1
                self.send_response(receiver.status if self.path == receiver.path else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def __enter__(self) -> "HeartbeatReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread.is_alive():  # shutdown() waits for a loop that never started
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
