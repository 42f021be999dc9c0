"""send_with_retries against servers that lie or stall (issue 24), over loopback HTTP.

Redirects are followed only within the origin asked for (credentials never go elsewhere,
unless a caller opts in, and then without them); every attempt has a deadline for its whole
response; a body over the size limit is refused.
"""

import logging
from collections.abc import Iterator

import pytest
import requests

from lbh_platform.common.http import (
    MAX_REDIRECTS,
    ApiRequestError,
    RetryPolicy,
    send_with_retries,
)
from lbh_platform_tests.hostile_api import (
    Handler,
    HostileServer,
    Seen,
    announcing,
    dripping,
    redirect_to,
    serving,
    streaming,
)

SECRET = "x-hash-secret-value-0123456789=="
HEADERS = {"X-Public": "public-key", "X-Hash": SECRET}
FAST = RetryPolicy(max_attempts=2, backoff_base=0.0, read_timeout=5.0)


def ok(handler: Handler, seen: Seen) -> None:
    handler.send(200, b'{"from": "%s"}' % seen.path.encode(), {"Content-Type": "application/json"})


@pytest.fixture
def elsewhere() -> Iterator[HostileServer]:
    with serving(ok) as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def get(session: requests.Session, url: str, policy: RetryPolicy = FAST, **kwargs: object):
    return send_with_retries(
        session,
        "GET",
        url,
        policy=policy,
        describe="tascomi appeals page 3",
        headers=HEADERS,
        sleep=lambda _: None,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_redirect_within_the_origin_is_followed_with_the_same_headers(session) -> None:
    def answer(handler: Handler, seen: Seen) -> None:
        if seen.path == "/old":
            handler.send(301, b"", {"Location": "/new?page=3"})
        else:
            ok(handler, seen)

    with serving(answer) as origin:
        response = get(session, origin.origin + "/old")
    assert response.json() == {"from": "/new"}
    assert [s.path for s in origin.seen] == ["/old", "/new"]
    assert origin.seen[1].headers["X-Hash"] == SECRET


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_refused_and_nothing_is_sent_there(
    session, elsewhere, status
) -> None:
    target = redirect_to(lambda seen: elsewhere.origin + seen.path, status)
    with serving(target) as origin, pytest.raises(ApiRequestError) as caught:
        get(session, origin.origin + "/rest/v1/appeals", params={"page": "3"})
    message = str(caught.value)
    assert "tascomi appeals page 3" in message and elsewhere.host in message
    assert "redirected" in message and SECRET not in message
    assert caught.value.status == status
    assert elsewhere.seen == []  # not even asked: no credentials went there
    assert len(origin.seen) == 1  # a refusal is not retried


def test_another_port_or_scheme_is_another_origin(session, elsewhere) -> None:
    with (
        serving(redirect_to(lambda seen: "https://127.0.0.1" + seen.path)) as origin,
        pytest.raises(ApiRequestError, match="to another host, 127.0.0.1"),
    ):
        get(session, origin.origin + "/r")


def test_an_opt_in_follows_another_host_without_the_callers_headers_or_session_auth(
    session, elsewhere, caplog
) -> None:
    session.auth = ("netrc-user", "netrc-password")
    with (
        serving(
            redirect_to(lambda seen: elsewhere.origin + "/download?X-Amz-Signature=s3cr3t")
        ) as origin,
        caplog.at_level(logging.INFO, logger="lbh_platform.http"),
    ):
        response = get(session, origin.origin + "/file/7", cross_origin_redirects=True)
    assert response.json() == {"from": "/download"}
    sent = elsewhere.seen[0].headers
    assert "X-Hash" not in sent and "X-Public" not in sent and "Authorization" not in sent
    assert origin.seen[0].headers["X-Hash"] == SECRET  # the origin itself still gets them
    assert elsewhere.host in caplog.text and "without" in caplog.text
    assert "s3cr3t" not in caplog.text


def test_a_redirect_loop_fails_after_a_few_hops(session) -> None:
    with (
        serving(redirect_to(lambda seen: f"/hop{int(seen.path[4:] or 0) + 1}")) as origin,
        pytest.raises(ApiRequestError, match=f"more than {MAX_REDIRECTS} times"),
    ):
        get(session, origin.origin + "/hop0")
    assert len(origin.seen) == MAX_REDIRECTS + 1


def test_a_body_dripped_within_the_read_timeout_fails_at_the_deadline(session) -> None:
    policy = RetryPolicy(max_attempts=2, backoff_base=0.0, read_timeout=5.0, deadline=0.5)
    # 40 bytes, one every 0.1 s: 4 s to arrive, each read well inside the read timeout.
    with (
        serving(dripping(b'{"records": "' + b"x" * 25 + b'"}', every=0.1)) as origin,
        pytest.raises(ApiRequestError) as caught,
    ):
        get(session, origin.origin + "/slow", policy=policy)
    message = str(caught.value)
    assert "tascomi appeals page 3" in message and "after 2 attempts" in message
    assert "within the 0.5s request deadline" in message
    assert len(origin.seen) == 2  # retried like a timeout


def test_a_deadline_passed_before_the_headers_arrive_fails_the_same_way(session) -> None:
    def late(handler: Handler, seen: Seen) -> None:
        handler.server.stopping.wait(1.0)
        ok(handler, seen)

    policy = RetryPolicy(max_attempts=1, read_timeout=5.0, deadline=0.3)
    with serving(late) as origin, pytest.raises(ApiRequestError, match="request deadline"):
        get(session, origin.origin + "/late", policy=policy)


def test_an_announced_body_over_the_limit_is_refused_before_it_is_read(session) -> None:
    policy = RetryPolicy(max_attempts=3, max_body_bytes=1_000_000)
    with (
        serving(announcing(2_000_000_000)) as origin,
        pytest.raises(ApiRequestError) as caught,
    ):
        get(session, origin.origin + "/huge", policy=policy)
    message = str(caught.value)
    assert "tascomi appeals page 3" in message
    assert "2,000,000,000 bytes" in message and "1,000,000-byte limit" in message
    assert len(origin.seen) == 1  # not retried: it would be as large again


def test_a_streamed_body_over_the_limit_is_cut_off_at_the_limit(session) -> None:
    policy = RetryPolicy(max_attempts=3, max_body_bytes=4_000_000)
    with serving(streaming(40_000_000)) as origin, pytest.raises(ApiRequestError) as caught:
        get(session, origin.origin + "/endless", policy=policy)
    assert "more than 4,000,000 bytes" in str(caught.value)
    assert len(origin.seen) == 1


def test_a_streamed_body_within_the_limit_is_read_whole(session) -> None:
    with serving(streaming(3_000_000)) as origin:
        response = get(session, origin.origin + "/chunked")
    body = response.json()
    assert len(body) > 1000 and body[0]["id"] == "1"


def test_policy_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(deadline=0)
    with pytest.raises(ValueError):
        RetryPolicy(max_body_bytes=0)
