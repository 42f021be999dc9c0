"""A loopback dead-man's-switch monitor: counts the GETs to its path (tests own and stop it)."""

from lbh_platform_tests.loopback_receiver import LoopbackReceiver, QuietHandler


class HeartbeatReceiver(LoopbackReceiver):
    """Counts pings to ``path`` (a token in the path, as healthchecks.io's check URLs have);
    ``status`` is what it answers."""

    def __init__(self, path: str = "/ping/hb-T0KEN-5f0e1d2c"):
        self.pings = 0
        receiver = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                if self.path == receiver.path:
                    receiver.pings += 1
                self.answer(receiver.status if self.path == receiver.path else 404)

        super().__init__(path, Handler)
