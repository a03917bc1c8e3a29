"""The refresh engine against a real rotating token server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from backend.errors import NeedsReconnect, NotFound, ProviderUnavailableError, RateLimitedError
from backend.providers.base import AdAccount
from backend.secret import Secret
from backend.vault.refresh import lead_time_s, refresh_aad
from backend.vault.tokens import call_with_token, get_access_token
from tests.backend.vault.conftest import World

pytestmark = pytest.mark.anyio


def test_lead_time_is_proportional_to_the_lifetime() -> None:
    assert lead_time_s(3600, 0.1) == 360
    assert lead_time_s(30, 0.1) == 5  # the floor
    assert lead_time_s(2, 0.1) == 1  # never more than half the lifetime
    assert lead_time_s(None, 0.1) == 5


async def test_access_token_is_reused_until_near_expiry(world: World) -> None:
    conn_id, _ = world.connect()
    first = await get_access_token(world.state, conn_id)
    again = [await get_access_token(world.state, conn_id) for _ in range(10)]
    assert all(t == first for t in again)
    assert world.idp.stats.token_requests == 0

    # 3600 s lifetime: 10 % lead. 400 s left is still fine; 300 s left is near expiry.
    world.expire_access(conn_id, remaining_s=400)
    assert await get_access_token(world.state, conn_id) == first
    assert world.idp.stats.token_requests == 0
    world.expire_access(conn_id, remaining_s=300)
    fresh = await get_access_token(world.state, conn_id)
    assert fresh != first
    assert world.idp.stats.refreshes == 1
    assert await get_access_token(world.state, conn_id) == fresh
    assert world.idp.stats.refreshes == 1


async def test_short_lived_token_is_not_refreshed_on_every_call(world: World) -> None:
    world.idp.access_lifetime_s = 30
    conn_id, _ = world.connect()
    world.expire_access(conn_id, remaining_s=20)
    for _ in range(5):
        await get_access_token(world.state, conn_id)
    assert world.idp.stats.token_requests == 0


async def test_rotation_is_committed_and_the_old_refresh_token_never_sent_again(
    world: World,
) -> None:
    conn_id, gid = world.connect()
    for n in range(1, 6):
        world.expire_access(conn_id)
        await get_access_token(world.state, conn_id)
        row = world.row(conn_id)
        stored = world.state.keyring.open(row.refresh_ct or "", refresh_aad(conn_id))
        assert stored.reveal() == world.idp.current_refresh_token(gid)
        assert row.token_version == n + 1
        assert row.status == "connected"
        assert row.last_refreshed_at is not None
    assert world.idp.stats.refreshes == 5
    assert world.idp.stats.reused_refresh_tokens == 0
    assert not world.idp.grants[gid].revoked
    # Plaintext never lands in the row.
    assert world.idp.current_refresh_token(gid) not in (row.refresh_ct or "")


async def test_concurrent_callers_share_one_refresh(world: World) -> None:
    world.idp.token_delay_s = 0.2  # keep the refresh in flight while the others arrive
    conn_id, gid = world.connect()
    world.expire_access(conn_id)
    tokens = await asyncio.gather(*(get_access_token(world.state, conn_id) for _ in range(50)))
    assert len({t.reveal() for t in tokens}) == 1
    assert world.idp.stats.refreshes == 1
    assert world.idp.stats.reused_refresh_tokens == 0


async def test_invalid_grant_marks_needs_reconnect_once_and_is_not_retried(world: World) -> None:
    conn_id, gid = world.connect()
    world.idp.revoke_grant(gid)
    world.expire_access(conn_id)
    with pytest.raises(NeedsReconnect) as err:
        await get_access_token(world.state, conn_id)
    assert err.value.detail == (
        "Demo Ads says this grant is no longer valid (revoked or expired). "
        "Reconnect to keep reports flowing."
    )
    assert world.idp.stats.token_requests == 1
    row = world.row(conn_id)
    assert row.status == "needs_reconnect"
    assert row.status_reason == err.value.detail
    assert row.access_ct is None
    for _ in range(3):
        with pytest.raises(NeedsReconnect):
            await get_access_token(world.state, conn_id)
        with pytest.raises(NeedsReconnect):
            await call_with_token(world.state, conn_id, _list_accounts(world))
    assert world.idp.stats.token_requests == 1
    assert world.idp.stats.api_calls == 0


async def test_5xx_then_success_within_the_bounded_retries(world: World) -> None:
    conn_id, _ = world.connect()
    world.expire_access(conn_id)
    world.idp.fail_next(503, times=2)
    await get_access_token(world.state, conn_id)
    assert world.idp.stats.token_requests == 3
    assert world.idp.stats.refreshes == 1
    assert world.row(conn_id).status == "connected"


async def test_provider_down_marks_error_then_success_brings_connected_back(world: World) -> None:
    conn_id, _ = world.connect()
    world.expire_access(conn_id)
    world.idp.fail_next(503, times=3)  # the provider's policy gives up after 3 attempts
    with pytest.raises(ProviderUnavailableError) as err:
        await get_access_token(world.state, conn_id)
    assert err.value.status == 503
    assert world.idp.stats.token_requests == 3
    row = world.row(conn_id)
    assert row.status == "error"
    assert row.last_error is not None
    assert "Demo Ads" in row.last_error
    assert row.last_error_at is not None

    await get_access_token(world.state, conn_id)
    row = world.row(conn_id)
    assert (row.status, row.last_error, row.last_error_at) == ("connected", None, None)


async def test_429_honours_retry_after(world: World) -> None:
    conn_id, _ = world.connect()
    world.expire_access(conn_id)
    world.idp.fail_next(429, retry_after=30)  # longer than the provider's wait cap: not slept
    started = asyncio.get_running_loop().time()
    with pytest.raises(RateLimitedError) as err:
        await get_access_token(world.state, conn_id)
    assert asyncio.get_running_loop().time() - started < 5
    assert err.value.retry_after == 30
    assert world.idp.stats.token_requests == 1
    assert world.row(conn_id).status == "error"

    world.idp.fail_next(429, retry_after=1)  # short: waited out, then the refresh succeeds
    started = asyncio.get_running_loop().time()
    await get_access_token(world.state, conn_id)
    assert asyncio.get_running_loop().time() - started >= 1
    assert world.row(conn_id).status == "connected"


def _list_accounts(world: World):  # type: ignore[no-untyped-def]
    async def fn(token: Secret) -> list[AdAccount]:
        return await world.state.providers["demo"].list_accounts(token)

    return fn


async def test_rejected_access_token_is_refreshed_once_and_the_call_retried(world: World) -> None:
    conn_id, _ = world.connect()
    world.idp.drop_access_tokens()
    accounts = await call_with_token(world.state, conn_id, _list_accounts(world))
    assert [a.id for a in accounts] == ["act_1"]
    assert world.idp.stats.refreshes == 1
    assert world.idp.stats.api_calls == 2


async def test_concurrent_rejections_refresh_once(world: World) -> None:
    world.idp.token_delay_s = 0.2
    conn_id, _ = world.connect()
    world.idp.drop_access_tokens()
    fn = _list_accounts(world)
    results = await asyncio.gather(*(call_with_token(world.state, conn_id, fn) for _ in range(20)))
    assert all(r[0].id == "act_1" for r in results)
    assert world.idp.stats.refreshes == 1
    assert world.idp.stats.reused_refresh_tokens == 0


async def test_report_call_failing_marks_error_and_success_clears_it(world: World) -> None:
    conn_id, _ = world.connect()

    async def down(_: Secret) -> None:
        from backend.providers.base import ProviderUnavailable

        raise ProviderUnavailable("Demo Ads is having trouble (HTTP 503).", retry_after=7)

    with pytest.raises(ProviderUnavailableError) as err:
        await call_with_token(world.state, conn_id, down)
    assert err.value.retry_after == 7
    assert world.row(conn_id).status == "error"
    await call_with_token(world.state, conn_id, _list_accounts(world))
    assert world.row(conn_id).status == "connected"


@pytest.mark.parametrize(
    ("status", "pending", "error"),
    [("disconnected", False, NotFound), ("connected", True, NotFound)],
)
async def test_disconnected_connections_are_never_used(
    world: World, status: str, pending: bool, error: type[Exception]
) -> None:
    conn_id, _ = world.connect()
    with world.state.sessions.begin() as session:
        from backend.db.models import Connection

        conn = session.get(Connection, conn_id)
        assert conn is not None
        conn.status, conn.revocation_pending = status, pending
        conn.access_expires_at = datetime.now(UTC) - timedelta(seconds=1)
    with pytest.raises(error):
        await get_access_token(world.state, conn_id)
    with pytest.raises(error):
        await call_with_token(world.state, conn_id, _list_accounts(world))
    assert world.idp.stats.token_requests == 0
    assert world.idp.stats.api_calls == 0


async def test_unknown_connection_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await get_access_token(world.state, "no-such-id")


async def test_force_refresh_waiters_reuse_the_winners_token(world: World) -> None:
    world.idp.token_delay_s = 0.2
    conn_id, _ = world.connect()
    tokens = await asyncio.gather(
        *(get_access_token(world.state, conn_id, force_refresh=True) for _ in range(10))
    )
    assert len({t.reveal() for t in tokens}) == 1
    assert world.idp.stats.refreshes == 1
