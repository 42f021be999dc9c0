"""A loopback HTTP receiver standing in for a chat incoming webhook (tests own and stop it)."""

import json

from lbh_platform_tests.loopback_receiver import LoopbackReceiver, QuietHandler


class WebhookReceiver(LoopbackReceiver):
    """Collects the JSON bodies POSTed to it; ``status`` is what it answers."""

    def __init__(self, path: str = "/webhook/T0KEN-in-the-path"):
        self.bodies: list[dict] = []
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if receiver.status < 300:
                    receiver.bodies.append(json.loads(body))
                self.answer(receiver.status)

        super().__init__(path, Handler)

    @property
    def texts(self) -> list[str]:
        return [b["text"] for b in self.bodies]
