"""Two backends (separate engines and connection pools) on one database refresh once; rotate-key
running beside live refreshes loses no rotated token."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from backend.config import Settings
from backend.vault.crypto import KeyRing, blob_kid, generate_key
from backend.vault.keys import load_keyring, rotate_key
from backend.vault.tokens import call_with_token, get_access_token
from tests.backend.vault.conftest import World, make_state, wire_provider
from tests.backend.vault.sandbox_driver import SandboxDriver

pytestmark = pytest.mark.anyio


def all_grants_alive(sandbox: SandboxDriver, people: list[str]) -> bool:
    return all(sandbox.grant_of(p)["active"] for p in people)


async def test_two_backends_on_one_database_refresh_once(
    world: World, database_url: str, tmp_path: Path
) -> None:
    other = make_state(database_url, tmp_path / "other")
    await wire_provider(other, world.sandbox.url)
    try:
        made = [await world.connect() for _ in range(4)]
        conns = [c for c, _ in made]
        before = world.sandbox.stats()
        world.sandbox.faults(latency_ms=300)  # the first refresh is in flight when others ask
        for conn_id in conns:
            world.expire_access(conn_id)
        calls = [
            get_access_token(state, conn_id)
            for conn_id in conns
            for state in (world.state, other)
            for _ in range(10)
        ]
        tokens = await asyncio.gather(*calls)
        after = world.sandbox.stats()
        assert len({t.reveal() for t in tokens}) == len(conns)
        assert after["refreshes"] - before["refreshes"] == len(conns)
        assert after["reused_refresh_tokens"] == 0
        assert all_grants_alive(world.sandbox, [p for _, p in made])
    finally:
        await other.providers["demo"].aclose()
        other.engine.dispose()


async def test_rotate_key_under_concurrent_refreshes_loses_nothing(world: World) -> None:
    old_spec = world.state.settings.vault_keys or ""
    new_key = generate_key()
    spec = f"new:{base64.b64encode(new_key).decode()},{old_spec}"
    made = [await world.connect() for _ in range(6)]
    # The running backend already has the new key first (step 2 of an env-key rotation).
    world.state.keyring = KeyRing.parse(spec)
    stop = anyio.Event()
    before = world.sandbox.stats()

    async def keep_refreshing(conn_id: str) -> None:
        while not stop.is_set():
            await world.aexpire(conn_id)
            await get_access_token(world.state, conn_id)

    async def rotate() -> str:
        settings = world.state.settings.model_copy(update={"vault_keys": spec})
        try:
            return await anyio.to_thread.run_sync(rotate_key, settings, world.state.sessions)
        finally:
            stop.set()

    summary, *_ = await asyncio.gather(rotate(), *(keep_refreshing(c) for c, _ in made))
    assert summary.startswith("Re-encrypted ")
    assert summary.endswith("can now be removed (from CONNECTED_ACCOUNTS_VAULT_KEYS).")
    assert world.sandbox.stats()["refreshes"] - before["refreshes"] >= len(made)

    # Nothing lost: with only the new key, one more refresh per connection works, which it
    # could not if an old refresh token had been written back (the grant would be revoked).
    world.state.keyring = KeyRing([("new", new_key)])
    for conn_id, _ in made:
        row = world.row(conn_id)
        assert blob_kid(row.refresh_ct or "") == "new"
        assert blob_kid(row.access_ct or "") == "new"
        world.expire_access(conn_id)
        await get_access_token(world.state, conn_id)
    assert world.sandbox.stats()["reused_refresh_tokens"] == 0
    assert all_grants_alive(world.sandbox, [p for _, p in made])


async def test_rotate_key_file_while_a_backend_runs(
    database_url: str, tmp_path: Path, sandbox: SandboxDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Key-file mode: the running backend picks up the new key; the old one can then go."""
    monkeypatch.delenv("CONNECTED_ACCOUNTS_VAULT_KEYS", raising=False)
    state = make_state(database_url, tmp_path)
    state.settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
    state.keyring = load_keyring(state.settings)
    await wire_provider(state, sandbox.url)
    world = World(state, sandbox)
    try:
        made = [await world.connect() for _ in range(4)]
        old_kid = state.keyring.active_kid
        stop = anyio.Event()

        async def keep_using(conn_id: str) -> None:
            fn = state.providers["demo"].list_accounts
            while not stop.is_set():
                await world.aexpire(conn_id)
                await call_with_token(state, conn_id, fn)

        async def rotate() -> str:
            try:
                return await anyio.to_thread.run_sync(rotate_key, state.settings, state.sessions)
            finally:
                stop.set()

        summary, *_ = await asyncio.gather(rotate(), *(keep_using(c) for c, _ in made))
        assert f"the old key {old_kid} can now be removed" in summary
        new_kid = summary.split(" with key ")[1].split(";")[0]
        assert state.keyring.active_kid == new_kid  # the running ring reloaded the file
        for conn_id, _ in made:
            row = world.row(conn_id)
            assert blob_kid(row.refresh_ct or "") == new_kid
            assert blob_kid(row.access_ct or "") == new_kid
        assert sandbox.stats()["reused_refresh_tokens"] == 0
        assert all_grants_alive(sandbox, [p for _, p in made])
    finally:
        await state.providers["demo"].aclose()
        state.engine.dispose()
