"""request_with_retries against a real flaky server: what is retried, what is not, and how."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from backend.providers.base import ProviderUnavailable, RateLimited
from backend.providers.http import RetryPolicy, parse_retry_after, request_with_retries
from tests.fakes.common import FakeState, install_faults
from tests.support.servers import UvicornThread, bind_loopback, serve

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.005, retry_after_cap_s=2.0)


@pytest.fixture
def flaky() -> Iterator[tuple[UvicornThread, FakeState]]:
    app = FastAPI()
    state = FakeState()
    install_faults(app, state)

    @app.api_route("/thing", methods=["GET", "POST"])
    async def thing() -> JSONResponse:
        return JSONResponse({"ok": True})

    with serve(app) as server:
        yield server, state


async def call(url: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await request_with_retries(
            client,
            "GET",
            url,
            provider="Acme",
            action="read the thing",
            policy=FAST,
            **kwargs,  # type: ignore[arg-type]
        )


async def test_5xx_is_retried_with_backoff_then_succeeds(
    flaky: tuple[UvicornThread, FakeState],
) -> None:
    server, state = flaky
    state.fail_next("/thing", 503, times=2)
    response = await call(f"{server.url}/thing?access_token=sekrit")
    assert response.status_code == 200
    assert state.hits["/thing"] == 3


async def test_persistent_5xx_gives_up_after_the_attempts_in_plain_words(
    flaky: tuple[UvicornThread, FakeState],
) -> None:
    server, state = flaky
    state.fail_next("/thing", 500, times=5)
    with pytest.raises(ProviderUnavailable) as caught:
        await call(f"{server.url}/thing?access_token=sekrit")
    assert state.hits["/thing"] == 3
    message = str(caught.value)
    assert "Acme" in message
    assert "try again" in message
    assert "sekrit" not in message
    assert "127.0.0.1" not in message


async def test_non_idempotent_call_is_not_resent_after_a_500(
    flaky: tuple[UvicornThread, FakeState],
) -> None:
    server, state = flaky
    state.fail_next("/thing", 500)
    with pytest.raises(ProviderUnavailable):
        await call(f"{server.url}/thing", idempotent=False)
    assert state.hits["/thing"] == 1


async def test_non_idempotent_call_is_resent_after_a_503(
    flaky: tuple[UvicornThread, FakeState],
) -> None:
    server, state = flaky
    state.fail_next("/thing", 503)
    response = await call(f"{server.url}/thing", idempotent=False)
    assert response.status_code == 200
    assert state.hits["/thing"] == 2


async def test_4xx_such_as_invalid_grant_is_never_retried(
    flaky: tuple[UvicornThread, FakeState],
) -> None:
    server, state = flaky
    state.fail_next("/thing", 400, body={"error": "invalid_grant"})
    response = await call(f"{server.url}/thing")
    assert response.status_code == 400
    assert state.hits["/thing"] == 1


async def test_429_waits_the_retry_after_it_was_given(
    flaky: tuple[UvicornThread, FakeState],
) -> None:
    server, state = flaky
    state.fail_next("/thing", 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    response = await call(f"{server.url}/thing")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.95
    assert state.hits["/thing"] == 2


async def test_429_with_a_long_retry_after_gives_up_at_once(
    flaky: tuple[UvicornThread, FakeState],
) -> None:
    server, state = flaky
    state.fail_next("/thing", 429, headers={"Retry-After": "120"})
    with pytest.raises(RateLimited) as caught:
        await call(f"{server.url}/thing")
    assert caught.value.retry_after == 120
    assert state.hits["/thing"] == 1
    assert "Acme" in str(caught.value)


async def test_429_on_every_attempt_ends_rate_limited(
    flaky: tuple[UvicornThread, FakeState],
) -> None:
    server, state = flaky
    state.fail_next("/thing", 429, times=3, headers={"Retry-After": "0"})
    with pytest.raises(RateLimited):
        await call(f"{server.url}/thing")
    assert state.hits["/thing"] == 3


async def test_refused_connection_is_retried_then_reported_unavailable() -> None:
    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(ProviderUnavailable) as caught:
        await call(f"http://127.0.0.1:{port}/thing?code=sekrit")
    assert "could not be reached" in str(caught.value)
    assert "sekrit" not in str(caught.value)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    parsed = parse_retry_after(later)
    assert parsed is not None
    assert 25 <= parsed <= 31
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_is_full_jitter_below_the_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=3.0)
    for attempt in range(6):
        ceiling = min(3.0, 0.5 * 2**attempt)
        samples = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling / 2  # spread out, not a fixed delay
