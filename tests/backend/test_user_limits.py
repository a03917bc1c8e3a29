"""In-flight slots leased to a process (backend/user_limits.py SlotLeases), on SQLite and on
PostgreSQL: two AppStates over one database stand for two backend processes.

tests/faults/test_per_user_limits.py shows the default limit (4, counted exactly) on real
server processes; these show the leases used for larger limits: few writes, the limit still
holds across processes, and spare slots go back to the pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select

from backend import user_limits
from backend.db.models import UsageSlot, User
from backend.errors import RateLimitedError
from backend.state import AppState
from backend.user_limits import LEASE_FROM, Limit, SlotLeases
from tests.backend.vault.conftest import make_state

pytestmark = pytest.mark.anyio

WORDS = "You already have too many reports loading."


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def states(database_url: str, tmp_path: Path) -> Iterator[tuple[AppState, AppState, str]]:
    """Two processes' states over one database, and a user id."""
    one = make_state(database_url, tmp_path)
    two = make_state(database_url, tmp_path)
    with one.sessions.begin() as s:
        user = User(email="leases@example.test", password_hash="x")
        s.add(user)
        s.flush()
        user_id = user.id
    yield one, two, user_id
    one.engine.dispose()
    two.engine.dispose()


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every transaction that takes slots, with its arguments."""
    seen: list[dict[str, Any]] = []
    real = user_limits._take

    def counting(state: AppState, user_id: str, rule: Limit, **kw: Any) -> list[str]:
        seen.append(kw)
        return real(state, user_id, rule, **kw)

    monkeypatch.setattr(user_limits, "_take", counting)
    return seen


def rows(state: AppState, user_id: str) -> int:
    with state.engine.connect() as db:
        query = select(func.count()).where(UsageSlot.user_id == user_id)
        return int(db.execute(query).scalar_one())


def limit(n: int) -> Limit:
    return Limit("report", n, None, WORDS)


async def hold_many(
    stack: AsyncExitStack, leases: SlotLeases, user_id: str, rule: Limit, n: int
) -> None:
    for _ in range(n):
        await stack.enter_async_context(leases.hold(user_id, rule))


async def test_reports_within_a_lease_start_and_end_without_a_write(
    states: tuple[AppState, AppState, str], writes: list[dict[str, Any]]
) -> None:
    state, _, user_id = states
    leases = SlotLeases(state, give_back_after_s=3600)
    rule = limit(1000)
    for _ in range(50):  # one after another: the first takes a lease, the rest reuse it
        async with leases.hold(user_id, rule):
            pass
    assert len(writes) == 1
    async with AsyncExitStack() as stack:  # 32 at once: the lease doubles as it grows
        await hold_many(stack, leases, user_id, rule, 32)
        leased, in_use = leases.held(user_id, "report")
        assert in_use == 32
        assert 32 <= leased <= 64
        assert rows(state, user_id) == leased  # what other processes count
        assert len(writes) <= 7
    assert leases.held(user_id, "report")[1] == 0


async def test_a_leased_limit_holds_across_processes(
    states: tuple[AppState, AppState, str],
) -> None:
    one, two, user_id = states
    rule = limit(LEASE_FROM * 4)  # 64
    a, b = SlotLeases(one, give_back_after_s=3600), SlotLeases(two, give_back_after_s=3600)
    async with AsyncExitStack() as stack:
        await hold_many(stack, a, user_id, rule, 20)
        await hold_many(stack, b, user_id, rule, 64 - a.held(user_id, "report")[0])
        # Every slot is leased now, in use or spare: a report more is refused on both.
        assert a.held(user_id, "report")[0] + b.held(user_id, "report")[0] == 64
        assert rows(one, user_id) == 64
        for leases in (a, b):
            if leases.held(user_id, "report")[0] > leases.held(user_id, "report")[1]:
                continue  # this one has a spare slot of its own
            with pytest.raises(RateLimitedError) as refused:
                async with leases.hold(user_id, rule):
                    pass
            assert refused.value.retry_after is not None
    # Given back, the slots are free for the other process.
    for leases in (a, b):
        leases.give_back((user_id, "report"))
        await leases.given_back()
    assert rows(one, user_id) == 0
    async with AsyncExitStack() as stack:
        await hold_many(stack, b, user_id, rule, 64)  # all of them, in one process
        assert rows(one, user_id) == 64


async def test_spare_slots_go_back_to_the_pool_after_the_work_ends(
    states: tuple[AppState, AppState, str],
) -> None:
    one, _, user_id = states
    leases = SlotLeases(one, give_back_after_s=0)
    rule = limit(1000)
    async with AsyncExitStack() as stack:
        await hold_many(stack, leases, user_id, rule, 8)
        assert rows(one, user_id) >= 8
    # The give-back runs on the event loop after the delay; wait for it by its effect.
    with anyio.fail_after(30):
        while leases.held(user_id, "report") != (0, 0):
            await anyio.sleep(0.01)
    await leases.given_back()
    assert rows(one, user_id) == 0


async def test_a_cancelled_report_keeps_no_slot(
    states: tuple[AppState, AppState, str],
) -> None:
    one, _, user_id = states
    leases = SlotLeases(one, give_back_after_s=3600)
    rule = limit(1000)
    started = anyio.Event()

    async def report() -> None:
        async with leases.hold(user_id, rule):
            started.set()
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(report)
        await started.wait()
        assert leases.held(user_id, "report")[1] == 1
        tg.cancel_scope.cancel()
    assert leases.held(user_id, "report")[1] == 0
    await leases.aclose()
    assert rows(one, user_id) == 0


async def test_small_limits_are_exact_a_row_per_report(
    states: tuple[AppState, AppState, str], writes: list[dict[str, Any]]
) -> None:
    one, two, user_id = states
    rule = limit(4)
    a, b = SlotLeases(one), SlotLeases(two)
    async with AsyncExitStack() as stack:
        await hold_many(stack, a, user_id, rule, 2)
        inner = AsyncExitStack()
        await hold_many(inner, b, user_id, rule, 2)
        assert rows(one, user_id) == 4
        with pytest.raises(RateLimitedError):
            async with a.hold(user_id, rule):
                pass
        await inner.aclose()  # b's two end: their rows go at once, no spare is kept
        assert rows(one, user_id) == 2
        await hold_many(stack, a, user_id, rule, 2)
        assert a.held(user_id, "report") == (0, 0)  # nothing leased
    assert rows(one, user_id) == 0
    assert len(writes) == 7  # one per report taken, the refused one included
