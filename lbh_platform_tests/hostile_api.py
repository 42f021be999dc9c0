"""A loopback HTTP server that answers as a test tells it to: the hostile servers of issue 24.

Each request is recorded (path, query, headers) and answered by the server's ``answer``
function, which writes to the handler directly, so it can redirect, drip a body a byte at a
time, announce a body it never sends, stream without end, or serve Tascomi-like pages.
"""

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]

    @property
    def page(self) -> int:
        return int(self.query.get("page", "0"))


Answer = Callable[["Handler", Seen], None]


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Answer) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answer = answer
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/rest/v1/"

    def pages(self) -> list[int]:
        with self.lock:
            return [s.page for s in self.seen]

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hang up on hostile answers on purpose; keep test output quiet."""


class Handler(BaseHTTPRequestHandler):
    server: HostileServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms stall

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silence per-request logging."""

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        seen = Seen(
            parts.path,
            {k: v[-1] for k, v in parse_qs(parts.query).items()},
            dict(self.headers),
        )
        with self.server.lock:
            self.server.seen.append(seen)
        try:
            self.server.answer(self, seen)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serving(answer: Answer) -> Iterator[HostileServer]:
    """A started server; stopped (and any drip ended) on exit."""
    server = HostileServer(answer)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


# ----------------------------------------------------------------------------- answers


def records(count: int, start: int = 1, day: str = "2024-03-05") -> list[dict[str, Any]]:
    return [
        {"id": str(i), "last_updated": f"{day} 10:{i % 60:02d}:00", "name": f"record {i}"}
        for i in range(start, start + count)
    ]


def tascomi_pages(
    served: Sequence[dict[str, Any]],
    per_page: int,
    *,
    announced: int | None = None,
    body: Callable[[int, bytes], bytes] | None = None,
) -> Answer:
    """Pages of ``served`` with Tascomi's paging headers (``announced`` records, default the
    truth); ``body(page, text)`` may replace a page's body. No signature check."""

    def answer(handler: Handler, seen: Seen) -> None:
        page = seen.page
        chunk = list(served[(page - 1) * per_page : page * per_page])
        text = json.dumps(chunk).encode()
        if body is not None:
            text = body(page, text)
        handler.send(
            200,
            text,
            {
                "Content-Type": "application/json",
                "X-Number-Of-Results": str(len(served) if announced is None else announced),
                "X-Results-Per-Page": str(per_page),
            },
        )

    return answer


def redirect_to(target: Callable[[Seen], str], status: int = 302) -> Answer:
    """A redirect to ``target(request)``."""

    def answer(handler: Handler, seen: Seen) -> None:
        handler.send(status, b"", {"Location": target(seen)})

    return answer


def dripping(body: bytes, every: float, headers: dict[str, str] | None = None) -> Answer:
    """A 200 whose body comes one byte every ``every`` seconds (each read is quick)."""

    def answer(handler: Handler, seen: Seen) -> None:
        handler.send_response(200)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.flush()
        for byte in body:
            if handler.server.stopping.wait(every):
                break
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()

    return answer


def announcing(length: int, sent: bytes = b"[") -> Answer:
    """A 200 announcing a ``length``-byte body, of which only ``sent`` comes."""

    def answer(handler: Handler, seen: Seen) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        handler.wfile.write(sent)
        handler.close_connection = True

    return answer


def streaming(total: int, headers: dict[str, str] | None = None) -> Answer:
    """A chunked 200 (no Content-Length): a JSON array of ``total`` bytes or so, in 256 KB
    chunks, until the client hangs up."""

    def answer(handler: Handler, seen: Seen) -> None:
        handler.send_response(200)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        record = json.dumps({"id": "1", "last_updated": "2024-03-05 10:00:00", "x": "y" * 200})
        piece = ("[" + ",".join([record] * 1200)).encode()
        chunks = [piece]
        sent = len(piece)
        tail = ("," + ",".join([record] * 1200)).encode()
        while sent < total:
            chunks.append(tail)
            sent += len(tail)
        chunks.append(b"]")
        for chunk in chunks:
            if handler.server.stopping.is_set():
                break
            handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")

    return answer


def nested(depth: int) -> bytes:
    """A page whose one record holds a value nested ``depth`` arrays deep."""
    return (
        b'[{"id":"1","last_updated":"2024-03-05 10:00:00","x":'
        + b"[" * depth
        + b"]" * depth
        + b"}]"
    )
