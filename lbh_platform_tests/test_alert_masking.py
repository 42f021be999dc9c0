"""Alerts and the heartbeat mask every value the settings registry declares secret (whatever
its name looks like), in the message, in logs (HTTP libraries' included) and in errors."""

import http.server
import logging
import threading

import dagster as dg
import pytest

from lbh_platform.common.alerts import Alert, WebhookPoster, deliver, format_alert, secret_values
from lbh_platform.lib.monitoring.heartbeat import build_heartbeat_sensor
from lbh_platform.settings_registry import every_setting
from lbh_platform_tests.webhook_receiver import WebhookReceiver

SECRETS = {s.name: f"s3cr3t-{s.name.lower()}-value" for s in every_setting() if s.secret}


def test_the_registry_declares_the_monitoring_urls_secret():
    assert {"LBH_ALERT_WEBHOOK_URL", "LBH_HEARTBEAT_URL"} <= set(SECRETS)


def test_every_declared_secret_is_masked_in_an_alert_whatever_its_name():
    environ = {**SECRETS, "LBH_ENGINE": "pandas", "TASCOMI_SECRET_ID": "tascomi-api-keys"}
    cause = "failed: " + " ".join(SECRETS.values()) + " while reading tascomi-api-keys"
    alert = Alert("Run failed", "tascomi", "appeals", "2024-03-05", "step s", cause)
    text = format_alert(alert, "https://ui", secret_values(environ))
    for name, value in SECRETS.items():
        assert value not in text, name
    # The registry decides: a declared non-secret (a secret's *name*) stays readable.
    assert "tascomi-api-keys" in text and "pandas" not in secret_values(environ)


def test_a_short_declared_secret_is_masked_too():
    environ = {"DAGSTER_PG_PASSWORD": "pg1"}
    assert secret_values(environ) == ["pg1"]


def test_an_undeclared_credential_looking_variable_is_still_masked():
    environ = {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG", "SHELL_TOKEN": "abc"}
    assert secret_values(environ) == ["wJalrXUtnFEMI/K7MDENG"]


def test_the_logged_alert_masks_the_heartbeat_url(monkeypatch, caplog):
    monkeypatch.delenv("LBH_ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("LBH_HEARTBEAT_URL", "https://hc-ping.com/9f8e7d6c-hb-token")
    alert = Alert(
        "Run failed", "tascomi", "-", "-", "step s", "GET https://hc-ping.com/9f8e7d6c-hb-token"
    )
    with caplog.at_level(logging.INFO):
        text = deliver(alert, logging.getLogger("test"))
    assert "9f8e7d6c-hb-token" not in text + caplog.text and "[redacted]" in text


def test_posting_an_alert_never_logs_the_webhook_url_even_at_debug(monkeypatch, caplog):
    with WebhookReceiver() as webhook, caplog.at_level(logging.DEBUG):
        monkeypatch.setenv("LBH_ALERT_WEBHOOK_URL", webhook.url)
        alert = Alert("Run failed", "tascomi", "appeals", "-", "step s", "boom")
        deliver(alert, logging.getLogger("test"))
    assert webhook.texts and webhook.path not in caplog.text
    assert "[redacted]" in caplog.text  # urllib3's request line is there, masked


def test_a_poster_error_names_no_url():
    url = "http://127.0.0.1:1/webhook/T0KEN-abc"
    with pytest.raises(Exception) as failure:
        WebhookPoster(url, attempts=1, sleep=lambda _: None).post("x")
    assert "T0KEN-abc" not in str(failure.value)


class _GarbageMonitor:
    """Answers every request with a line that is not HTTP (a proxy's error page, say)."""

    def __enter__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                self.wfile.write(b"garbage\r\n\r\n")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/ping/hb-T0KEN-42"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_a_heartbeat_ping_answered_with_garbage_skips_the_tick_without_the_url(monkeypatch, caplog):
    with _GarbageMonitor() as url, dg.instance_for_test() as instance:
        monkeypatch.setenv("LBH_HEARTBEAT_URL", url)
        monkeypatch.setattr(
            "lbh_platform.lib.monitoring.heartbeat.silent_daemons", lambda instance: []
        )
        with caplog.at_level(logging.DEBUG):
            result = build_heartbeat_sensor().evaluate_tick(
                dg.build_sensor_context(instance=instance)
            )
    assert result.skip_message == "ping to LBH_HEARTBEAT_URL failed: BadStatusLine"
    assert "hb-T0KEN-42" not in result.skip_message + caplog.text


def test_every_heartbeat_message_is_masked(monkeypatch):
    from lbh_platform.lib.monitoring import heartbeat

    monkeypatch.setenv("LBH_HEARTBEAT_URL", "https://hc-ping.com/hb-T0KEN-43")
    monkeypatch.setattr(heartbeat, "silent_daemons", lambda instance: [])
    monkeypatch.setattr(
        heartbeat, "ping", lambda url, timeout=0: (False, f"ping to {url} failed: X")
    )
    with dg.instance_for_test() as instance:
        result = build_heartbeat_sensor().evaluate_tick(dg.build_sensor_context(instance=instance))
    assert "hb-T0KEN-43" not in result.skip_message and "[redacted]" in result.skip_message


def test_a_secret_urls_request_target_is_masked_on_its_own():
    environ = {"LBH_ALERT_WEBHOOK_URL": "https://chat.example/v1/spaces/AAA/messages?key=K&token=T"}
    assert "/v1/spaces/AAA/messages?key=K&token=T" in secret_values(environ)
    assert secret_values({"LBH_HEARTBEAT_URL": "https://hc.example/"}) == ["https://hc.example/"]
