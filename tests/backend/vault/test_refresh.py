"""The refresh engine against the real Demo Ads sandbox, on SQLite and PostgreSQL.

Counters come from the sandbox's `/admin/stats`; each test reads them after connecting, so
the code redemptions of the setup are not counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio.to_thread
import pytest

from backend.errors import provider_api_error, vault_api_error
from backend.providers.base import AdAccount, ProviderUnavailable, RateLimited
from backend.secret import Secret
from backend.vault import ConnectionGone, ReconnectRequired, VaultUnavailable
from backend.vault.refresh import lead_time_s
from backend.vault.tokens import call_with_token, get_access_token
from tests.backend.vault.conftest import World, make_state, wire_provider

pytestmark = pytest.mark.anyio

RECONNECT = (
    "Demo Ads says this grant is no longer valid (revoked or expired). "
    "Reconnect to keep reports flowing."
)


class Counter:
    """Sandbox counters since this object was made."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._base = world.sandbox.stats()

    def __getitem__(self, name: str) -> int:
        return self._world.sandbox.stats()[name] - self._base[name]


def list_accounts(world: World) -> Callable[[Secret], Awaitable[list[AdAccount]]]:
    return world.state.providers["demo"].list_accounts


def test_lead_time_is_proportional_to_the_lifetime() -> None:
    assert lead_time_s(3600, 0.1) == 360
    assert lead_time_s(30, 0.1) == 5  # the floor
    assert lead_time_s(2, 0.1) == 1  # never more than half the lifetime
    assert lead_time_s(None, 0.1) == 5


async def test_access_token_is_reused_until_near_expiry(world: World) -> None:
    conn_id, _ = await world.connect()
    seen = Counter(world)
    first = await get_access_token(world.state, conn_id)
    again = [await get_access_token(world.state, conn_id) for _ in range(10)]
    assert all(t == first for t in again)
    assert seen["token_requests"] == 0

    # 3600 s lifetime: 10 % lead. 400 s left is still fine; 300 s left is near expiry.
    world.expire_access(conn_id, remaining_s=400)
    assert await get_access_token(world.state, conn_id) == first
    assert seen["token_requests"] == 0
    world.expire_access(conn_id, remaining_s=300)
    fresh = await get_access_token(world.state, conn_id)
    assert fresh != first
    assert seen["refreshes"] == 1
    assert await get_access_token(world.state, conn_id) == fresh
    assert seen["refreshes"] == 1


async def test_short_lived_token_is_not_refreshed_on_every_call(world: World) -> None:
    world.sandbox.faults(access_token_lifetime=30)
    conn_id, _ = await world.connect()
    seen = Counter(world)
    world.expire_access(conn_id, remaining_s=20)  # 20 s of 30 left: above the 5 s lead
    for _ in range(5):
        await get_access_token(world.state, conn_id)
    assert seen["token_requests"] == 0


async def test_rotation_is_committed_and_the_old_refresh_token_never_sent_again(
    world: World,
) -> None:
    conn_id, person = await world.connect()
    seen = Counter(world)
    for n in range(1, 6):
        world.expire_access(conn_id)
        await get_access_token(world.state, conn_id)
        row = world.row(conn_id)
        assert (row.token_version, row.status) == (n + 1, "connected")
        assert row.last_refreshed_at is not None
        # Each refresh presented the newest token: a spent one would have ended the grant.
        grant = world.sandbox.grant_of(person)
        assert (grant["refreshes"], grant["active"]) == (n, True)
    assert seen["refreshes"] == 5
    assert seen["reused_refresh_tokens"] == 0
    assert seen["refresh_failures"] == 0


async def test_concurrent_callers_share_one_refresh(world: World) -> None:
    conn_id, person = await world.connect()
    world.sandbox.faults(latency_ms=200)  # keep the refresh in flight while the others arrive
    seen = Counter(world)
    world.expire_access(conn_id)
    tokens = await asyncio.gather(*(get_access_token(world.state, conn_id) for _ in range(50)))
    assert len({t.reveal() for t in tokens}) == 1
    assert seen["refreshes"] == 1
    assert seen["reused_refresh_tokens"] == 0
    assert world.sandbox.grant_of(person)["active"]


async def test_revoked_grant_marks_needs_reconnect_once_and_is_not_retried(world: World) -> None:
    conn_id, person = await world.connect()
    world.sandbox.revoke_grant(person)
    seen = Counter(world)
    world.expire_access(conn_id)
    with pytest.raises(ReconnectRequired) as err:
        await get_access_token(world.state, conn_id)
    assert str(err.value) == RECONNECT
    api = vault_api_error(err.value)
    assert api is not None
    assert (api.status, api.code, api.detail) == (409, "needs_reconnect", RECONNECT)
    assert seen["token_requests"] == 1
    row = world.row(conn_id)
    assert (row.status, row.status_reason, row.access_ct) == ("needs_reconnect", RECONNECT, None)
    for _ in range(3):
        with pytest.raises(ReconnectRequired):
            await get_access_token(world.state, conn_id)
        with pytest.raises(ReconnectRequired):
            await call_with_token(world.state, conn_id, list_accounts(world))
    assert seen["token_requests"] == 1
    assert seen["api_calls"] == 0


async def test_expired_grant_marks_needs_reconnect(world: World) -> None:
    conn_id, _ = await world.connect()
    world.sandbox.faults(grant_lifetime=60)
    world.sandbox.clock_offset_s = 120  # the sandbox's clock moves; nobody sleeps
    seen = Counter(world)
    world.expire_access(conn_id)
    with pytest.raises(ReconnectRequired):
        await get_access_token(world.state, conn_id)
    with pytest.raises(ReconnectRequired):
        await get_access_token(world.state, conn_id)
    assert seen["token_requests"] == 1
    assert world.row(conn_id).status == "needs_reconnect"


async def test_5xx_then_success_within_the_bounded_retries(world: World) -> None:
    conn_id, _ = await world.connect()
    seen = Counter(world)
    world.expire_access(conn_id)
    world.sandbox.faults(fail_next_token=2, retry_after=0)
    await get_access_token(world.state, conn_id)
    assert (seen["token_requests"], seen["refreshes"]) == (3, 1)
    assert world.row(conn_id).status == "connected"


async def test_provider_down_marks_error_then_success_brings_connected_back(world: World) -> None:
    conn_id, person = await world.connect()
    seen = Counter(world)
    world.expire_access(conn_id)
    world.sandbox.faults(fail_next_token=3, retry_after=0)  # the retry policy stops at 3
    with pytest.raises(ProviderUnavailable) as err:
        await get_access_token(world.state, conn_id)
    assert provider_api_error(err.value).status == 503
    assert seen["token_requests"] == 3
    row = world.row(conn_id)
    assert row.status == "error"
    assert row.last_error is not None
    assert "Demo Ads" in row.last_error
    assert row.last_error_at is not None

    await get_access_token(world.state, conn_id)
    row = world.row(conn_id)
    assert (row.status, row.last_error, row.last_error_at) == ("connected", None, None)
    assert world.sandbox.grant_of(person)["active"]


async def test_429_reports_retry_after_and_a_short_one_is_waited_out(world: World) -> None:
    conn_id, _ = await world.connect()
    seen = Counter(world)
    # Longer than the provider's wait cap (5 s): not slept, reported with its Retry-After.
    world.sandbox.faults(rate_limit_next=1, retry_after=30)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RateLimited) as err:
        await call_with_token(world.state, conn_id, list_accounts(world))
    assert loop.time() - started < 5
    assert err.value.retry_after == 30
    assert (provider_api_error(err.value).status, provider_api_error(err.value).retry_after) == (
        429,
        30,
    )
    assert seen["api_calls"] == 1
    assert world.row(conn_id).status == "error"

    world.sandbox.faults(rate_limit_next=1, retry_after=1)  # short: waited out, then fine
    started = loop.time()
    accounts = await call_with_token(world.state, conn_id, list_accounts(world))
    assert loop.time() - started >= 1
    assert accounts
    assert world.row(conn_id).status == "connected"


async def test_rejected_access_token_is_refreshed_once_and_the_call_retried(world: World) -> None:
    conn_id, _ = await world.connect()
    world.sandbox.expire_access_tokens()  # the backend still believes its token is good
    seen = Counter(world)
    accounts = await call_with_token(world.state, conn_id, list_accounts(world))
    assert accounts
    # api_calls counts answered calls: the refused one is not in it.
    assert (seen["refreshes"], seen["api_calls"]) == (1, 1)


async def test_concurrent_rejections_refresh_once(world: World) -> None:
    conn_id, person = await world.connect()
    world.sandbox.expire_access_tokens()
    world.sandbox.faults(latency_ms=100)
    seen = Counter(world)
    fn = list_accounts(world)
    results = await asyncio.gather(*(call_with_token(world.state, conn_id, fn) for _ in range(20)))
    assert all(results)
    assert seen["refreshes"] == 1
    assert seen["reused_refresh_tokens"] == 0
    assert world.sandbox.grant_of(person)["active"]


async def test_report_call_failing_marks_error_and_success_clears_it(world: World) -> None:
    conn_id, _ = await world.connect()

    async def down(_: Secret) -> None:
        raise ProviderUnavailable("Demo Ads is having trouble (HTTP 503).", retry_after=7)

    with pytest.raises(ProviderUnavailable) as err:
        await call_with_token(world.state, conn_id, down)
    assert provider_api_error(err.value).retry_after == 7
    assert world.row(conn_id).status == "error"
    await call_with_token(world.state, conn_id, list_accounts(world))
    assert world.row(conn_id).status == "connected"


@pytest.mark.parametrize(("status", "pending"), [("disconnected", False), ("connected", True)])
async def test_disconnected_connections_are_never_used(
    world: World, status: str, pending: bool
) -> None:
    from backend.db.models import Connection

    conn_id, _ = await world.connect()
    world.expire_access(conn_id)
    with world.state.sessions.begin() as session:
        conn = session.get(Connection, conn_id)
        assert conn is not None
        conn.status, conn.revocation_pending = status, pending
    seen = Counter(world)
    with pytest.raises(ConnectionGone):
        await get_access_token(world.state, conn_id)
    with pytest.raises(ConnectionGone):
        await call_with_token(world.state, conn_id, list_accounts(world))
    assert (seen["token_requests"], seen["api_calls"]) == (0, 0)


async def test_unknown_connection_is_not_found(world: World) -> None:
    with pytest.raises(ConnectionGone):
        await get_access_token(world.state, "no-such-id")


async def test_force_refresh_waiters_reuse_the_winners_token(world: World) -> None:
    conn_id, _ = await world.connect()
    world.sandbox.faults(latency_ms=200)
    seen = Counter(world)
    tokens = await asyncio.gather(
        *(get_access_token(world.state, conn_id, force_refresh=True) for _ in range(10))
    )
    assert len({t.reveal() for t in tokens}) == 1
    assert seen["refreshes"] == 1


async def test_tampered_stored_token_fails_closed(world: World) -> None:
    from sqlalchemy import update

    from backend.db.models import Connection

    conn_id, _ = await world.connect()
    other_id, _ = await world.connect()
    # Copy another connection's (valid) ciphertext into this row: the AAD must refuse it.
    foreign = world.row(other_id).access_ct
    with world.state.sessions.begin() as session:
        session.execute(
            update(Connection).where(Connection.id == conn_id).values(access_ct=foreign)
        )
    seen = Counter(world)
    with pytest.raises(ReconnectRequired, match="failed its integrity check"):
        await call_with_token(world.state, conn_id, list_accounts(world))
    assert (seen["token_requests"], seen["api_calls"]) == (0, 0)


async def test_missing_vault_key_is_a_clear_server_error(world: World) -> None:
    from backend.vault.crypto import KeyRing, generate_key

    conn_id, _ = await world.connect()
    world.state.keyring = KeyRing([("other", generate_key())])
    with pytest.raises(VaultUnavailable) as err:
        await get_access_token(world.state, conn_id)
    api = vault_api_error(err.value)
    assert api is not None
    assert (api.status, api.code, api.title) == (500, "internal", "Vault key missing")
    assert "The vault key 'test1' is not configured" in api.detail


async def test_tokens_never_reach_logs_errors_or_plaintext_columns(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import text

    from backend.vault.refresh import access_aad, refresh_aad

    caplog.set_level("DEBUG")
    conn_id, person = await world.connect()
    world.expire_access(conn_id)
    await get_access_token(world.state, conn_id)
    row = world.row(conn_id)
    secrets_now = [
        world.state.keyring.open(row.refresh_ct or "", refresh_aad(conn_id)).reveal(),
        world.state.keyring.open(row.access_ct or "", access_aad(conn_id)).reveal(),
    ]
    world.sandbox.revoke_grant(person)
    world.expire_access(conn_id)
    with pytest.raises(ReconnectRequired) as err:
        await get_access_token(world.state, conn_id)
    with world.state.engine.connect() as db:
        raw = " ".join(str(v) for v in db.execute(text("SELECT * FROM connections")).one())
    for secret in secrets_now:
        assert secret not in caplog.text
        assert secret not in str(err.value)
        assert secret not in raw
    assert "refreshed the access token" in caplog.text  # the log did run at DEBUG


# --- The refresh lease (design: "Token refresh rules"): single flight across processes without a
# transaction open across the provider call. A second AppState on the same database, with its
# own engine and its own in-process flights, stands for another backend process.


async def _until(what: str, check: Callable[[], bool]) -> None:
    """Poll `check` without blocking the loop that runs the refresh (generous deadline)."""
    for _ in range(600):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def _lease(world: World, conn_id: str) -> tuple[str | None, object, int]:
    row = world.row(conn_id)
    return row.lease_owner, row.lease_expires_at, row.token_version


@pytest.fixture
async def second_process(world: World, database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    state = make_state(database_url, tmp_path / "other")
    await wire_provider(state, world.sandbox.url)
    yield World(state, world.sandbox)
    for provider in state.providers.values():
        await provider.aclose()
    state.engine.dispose()


async def test_no_write_waits_while_the_lease_owner_awaits_the_provider(world: World) -> None:
    conn_id, _ = await world.connect()
    other_id, _ = await world.connect()
    seen = Counter(world)
    world.expire_access(conn_id)
    world.sandbox.faults(hold=["token"])
    owner = asyncio.create_task(get_access_token(world.state, conn_id))
    await _until("the refresh is stalled", lambda: seen["held_requests"] == 1)
    lease_owner, lease_until, version = _lease(world, conn_id)
    assert lease_owner is not None  # the lease is held (no transaction is)
    assert lease_until is not None
    # Writes to the whole database go through meanwhile (a held BEGIN IMMEDIATE blocked these).
    await anyio.to_thread.run_sync(lambda: world.expire_access(other_id, remaining_s=900))
    assert not owner.done()
    world.sandbox.faults(hold=[])
    await owner
    assert _lease(world, conn_id)[0::2] == (None, version + 1)
    assert seen["refreshes"] == 1


async def test_another_process_waits_for_the_lease_and_reuses_its_token(
    world: World, second_process: World
) -> None:
    conn_id, person = await world.connect()
    seen = Counter(world)
    world.expire_access(conn_id)
    world.sandbox.faults(hold=["token"])
    first = asyncio.create_task(get_access_token(world.state, conn_id))
    await _until("the refresh is stalled", lambda: seen["held_requests"] == 1)
    waiters = [
        asyncio.create_task(get_access_token(second_process.state, conn_id)) for _ in range(5)
    ]
    await asyncio.sleep(0.3)  # let the other process poll the leased row a few times
    assert seen["held_requests"] == 1  # it did not go to the provider itself
    world.sandbox.faults(hold=[])
    tokens = await asyncio.gather(first, *waiters)
    assert len({t.reveal() for t in tokens}) == 1
    assert (seen["refreshes"], seen["reused_refresh_tokens"]) == (1, 0)
    assert world.sandbox.grant_of(person)["active"]


async def test_a_dead_owners_lease_expires_and_only_an_unrotated_token_is_refreshed(
    world: World,
) -> None:
    from sqlalchemy import update

    from backend.db.models import Connection

    conn_id, person = await world.connect()
    seen = Counter(world)

    def leased(until_s: float) -> None:
        with world.state.sessions.begin() as session:
            session.execute(update(Connection).where(Connection.id == conn_id).values(
                lease_owner="dead:1", lease_expires_at=datetime.now(UTC) + timedelta(
                    seconds=until_s)))  # fmt: skip

    # A dead owner that had stored its rotation: the token is fresh, nobody refreshes.
    leased(-1)
    await get_access_token(world.state, conn_id)
    assert seen["token_requests"] == 0
    # A dead owner that had not: once its lease lapses the token is refreshed, exactly once.
    world.expire_access(conn_id)
    leased(1.0)
    waiter = asyncio.create_task(get_access_token(world.state, conn_id))
    await asyncio.sleep(0.2)
    assert (seen["token_requests"], waiter.done()) == (0, False)  # the lease still holds
    await waiter
    assert (seen["refreshes"], seen["reused_refresh_tokens"]) == (1, 0)
    assert world.row(conn_id).lease_owner is None
    assert world.sandbox.grant_of(person)["active"]


async def test_the_owner_renews_its_lease_while_the_provider_stalls(
    world: World, second_process: World
) -> None:
    world.state.settings.refresh_lease_s = 1.0
    second_process.state.settings.refresh_lease_s = 1.0
    conn_id, _ = await world.connect()
    seen = Counter(world)
    world.expire_access(conn_id)
    world.sandbox.faults(hold=["token"])
    owner = asyncio.create_task(get_access_token(world.state, conn_id))
    await _until("the refresh is stalled", lambda: seen["held_requests"] == 1)
    first_until = _lease(world, conn_id)[1]
    waiter = asyncio.create_task(get_access_token(second_process.state, conn_id))
    # Well past the 1 s TTL, the live owner still holds the lease: it renewed it.
    await _until("the lease was renewed", lambda: _lease(world, conn_id)[1] != first_until)
    await asyncio.sleep(1.5)
    assert seen["held_requests"] == 1  # so the other process never took it over
    world.sandbox.faults(hold=[])
    assert (await owner) == (await waiter)
    assert (seen["refreshes"], seen["reused_refresh_tokens"]) == (1, 0)
