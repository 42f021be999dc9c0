"""The Alloy key goes only to the configured API: its file download may be redirected to
storage elsewhere (followed without the key); a redirect off the API on any other call is
refused."""

import io
import zipfile

import pytest

from lbh_platform.alloy.client import AlloyClient
from lbh_platform.common.http import ApiError, RetryPolicy
from lbh_platform_tests.hostile_api import Handler, Seen, serving

KEY = "alloy-key-0123456789"
FAST = RetryPolicy(max_attempts=1, backoff_base=0.0, read_timeout=5.0)


def a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Jobs/Jobs.csv", "Item ID\r\n1\r\n")
    return buffer.getvalue()


def test_the_file_download_follows_storage_elsewhere_without_the_key(faults):
    body = a_zip()

    def storage(handler: Handler, seen: Seen) -> None:
        handler.send(200, body, {"Content-Type": "application/zip"})

    with serving(storage) as elsewhere:

        def api(handler: Handler, seen: Seen) -> None:
            if seen.path.endswith("/file"):
                handler.send(200, b'{"fileItemId": "f1"}', {"Content-Type": "application/json"})
            else:  # /api/file/f1: the zip is in storage on another host
                handler.send(302, b"", {"Location": f"{elsewhere.origin}/bucket/f1.zip"})

        with serving(api) as server:
            client = AlloyClient(f"{server.origin}/api/", KEY, policy=FAST)
            assert client.download_export("t1") == body
    api_calls = [s.headers.get("Authorization") for s in server.seen]
    assert api_calls == [f"Bearer {KEY}", f"Bearer {KEY}"]
    assert [s.path for s in elsewhere.seen] == ["/bucket/f1.zip"]
    assert "Authorization" not in elsewhere.seen[0].headers
    faults.record(survived=True)


def test_a_redirect_off_the_api_on_any_other_call_is_refused(faults):
    with serving(lambda h, s: h.send(200, b"{}")) as elsewhere:

        def api(handler: Handler, seen: Seen) -> None:
            handler.send(302, b"", {"Location": f"{elsewhere.origin}/api/task/t1"})

        with serving(api) as server:
            client = AlloyClient(f"{server.origin}/api/", KEY, policy=FAST)
            with pytest.raises(ApiError, match="another host") as raised:
                client.wait_for_task("t1")
    assert KEY not in str(raised.value)
    assert elsewhere.seen == []
    faults.record(survived=True)
