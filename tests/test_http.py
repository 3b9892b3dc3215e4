"""The shared HTTP layer against a real local server: each failure maps to its error class."""

from __future__ import annotations

import pytest

from comms.channels.http import HttpClient, parse_reset, parse_retry_after
from comms.errors import AuthError, RateLimitedError, RejectedError, TransientError
from tests.fakes.server import FakeServer, Request, Response


class EchoServer(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.route("POST", "/posts", self.create)
        self.route("POST", "/bad", lambda r: Response(422, {"error": "text too long"}))
        self.created: list[dict] = []

    def check_auth(self, request: Request) -> Response | None:
        if request.header("authorization") != "Bearer s3cret-token":
            return Response(401, {"error": "bad token s3cret-token"})
        return None

    def create(self, request: Request) -> Response:
        self.created.append(request.json)
        return Response(200, {"id": str(len(self.created))})


@pytest.fixture
def server():
    with EchoServer() as fake:
        yield fake


def client(server, token="s3cret-token", timeout=(2.0, 1.0)) -> HttpClient:
    return HttpClient(
        server.url,
        service="echo",
        auth_env="COMMS_ECHO_TOKEN",
        secrets=[token],
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


def test_success(server):
    assert client(server).json("POST", "/posts", json={"text": "hej"}) == {"id": "1"}


@pytest.mark.parametrize(
    ("fault", "error", "delivered"),
    [
        ("500", TransientError, True),
        ("502", TransientError, True),
        ("503", TransientError, False),
        ("timeout", TransientError, True),
        ("reset", TransientError, True),
        ("malformed", TransientError, True),
        ("after-500", TransientError, True),
        ("after-timeout", TransientError, True),
    ],
)
def test_transient_failures_say_whether_the_post_may_have_arrived(server, fault, error, delivered):
    server.fail_next(fault, delay=2.0)
    with pytest.raises(error) as info:
        client(server).json("POST", "/posts", json={"text": "hej"})
    assert info.value.maybe_delivered is delivered
    assert len(server.calls("POST", "/posts")) == 1  # the transport never re-sent the POST


def test_after_fault_means_the_service_has_the_post(server):
    server.fail_next("after-500")
    with pytest.raises(TransientError):
        client(server).json("POST", "/posts", json={"text": "hej"})
    assert server.created == [{"text": "hej"}]


@pytest.mark.parametrize("fault", ["429", "429-date"])
def test_rate_limit_carries_the_wait(server, fault):
    server.fail_next(fault, retry_after=120)
    with pytest.raises(RateLimitedError) as info:
        client(server).json("POST", "/posts", json={})
    assert 115 <= info.value.retry_after <= 120


def test_auth_error_names_the_variable_never_the_token(server):
    with pytest.raises(AuthError) as info:
        client(server, token="wrong-token-value").json("POST", "/posts", json={})
    assert "COMMS_ECHO_TOKEN" in str(info.value)
    assert "wrong-token-value" not in str(info.value)


def test_server_message_with_the_token_is_scrubbed(server):
    server.fail_next("expired")
    with pytest.raises(AuthError) as info:
        client(server).json("POST", "/posts", json={})
    assert "s3cret-token" not in str(info.value)


def test_rejection_carries_the_reason(server):
    with pytest.raises(RejectedError, match="text too long"):
        client(server).json("POST", "/bad", json={})


def test_refused_connection_was_never_delivered():
    fake = EchoServer().start()
    url = fake.url
    fake.stop()
    http = HttpClient(url, service="echo", timeout=(0.5, 0.5))
    with pytest.raises(TransientError) as info:
        http.json("POST", "/posts", json={})
    assert info.value.maybe_delivered is False


def test_retry_after_and_reset_parsing():
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None
    assert parse_reset("30") == 30
    assert parse_reset("9999999999") > 0
    assert parse_reset("2000-01-01T00:00:00Z") == 0
