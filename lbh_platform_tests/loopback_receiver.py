"""A loopback HTTP server a test owns and stops: the common part of the webhook and
heartbeat receivers."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackReceiver:
    """Serves ``handler`` on 127.0.0.1 at a free port while entered; ``url`` ends in ``path``."""

    def __init__(self, path: str, handler: type[BaseHTTPRequestHandler]):
        self.path = path
        self.status = 200
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread.is_alive():  # shutdown() waits for a loop that never started
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
