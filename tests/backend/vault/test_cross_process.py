"""Two backends (separate engines and connection pools) on one database refresh once; rotate-key
running beside live refreshes loses no rotated token."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import anyio.to_thread
import pytest

from backend.vault.crypto import KeyRing, blob_kid, generate_key
from backend.vault.keys import rotate_key
from backend.vault.refresh import refresh_aad
from backend.vault.tokens import call_with_token, get_access_token
from tests.backend.vault.conftest import World, make_state, wire_provider
from tests.backend.vault.idp import MiniIdp

pytestmark = pytest.mark.anyio


async def test_two_backends_on_one_database_refresh_once(
    world: World, database_url: str, tmp_path: Path, idp: tuple[MiniIdp, str]
) -> None:
    other = make_state(database_url, tmp_path / "other")
    await wire_provider(other, idp[1])
    try:
        world.idp.token_delay_s = 0.3  # the first refresh is still in flight when others ask
        conns = [world.connect(f"a{i}")[0] for i in range(4)]
        for conn_id in conns:
            world.expire_access(conn_id)
        calls = [
            get_access_token(state, conn_id)
            for conn_id in conns
            for state in (world.state, other)
            for _ in range(10)
        ]
        tokens = await asyncio.gather(*calls)
        assert len({t.reveal() for t in tokens}) == len(conns)
        assert world.idp.stats.refreshes == len(conns)
        assert world.idp.stats.reused_refresh_tokens == 0
    finally:
        await other.providers["demo"].aclose()
        other.engine.dispose()


async def test_rotate_key_under_concurrent_refreshes_loses_nothing(
    world: World, database_url: str, tmp_path: Path
) -> None:
    old_spec = world.state.settings.vault_keys or ""
    new_key = generate_key()
    spec = f"new:{base64.b64encode(new_key).decode()},{old_spec}"
    world.idp.access_lifetime_s = 2  # lead 1 s: every call after ~1 s refreshes
    conns = [world.connect(f"r{i}")[0] for i in range(6)]
    # The running backend already has the new key first (step 2 of an env-key rotation).
    world.state.keyring = KeyRing.parse(spec)
    stop = anyio.Event()

    async def keep_refreshing(conn_id: str) -> int:
        done = 0
        while not stop.is_set():
            await world.aexpire(conn_id)
            await get_access_token(world.state, conn_id)
            done += 1
        return done

    async def rotate() -> str:
        try:
            return await anyio.to_thread.run_sync(
                rotate_key,
                world.state.settings.model_copy(update={"vault_keys": spec}),
                world.state.sessions,
            )
        finally:
            stop.set()

    results = await asyncio.gather(rotate(), *(keep_refreshing(c) for c in conns))
    summary = results[0]
    assert summary.startswith("Re-encrypted ")
    assert summary.endswith("can now be removed (from CONNECTED_ACCOUNTS_VAULT_KEYS).")
    assert world.idp.stats.refreshes >= len(conns)

    # Nothing lost: with only the new key, every stored refresh token is the provider's
    # current one, and one more refresh per connection works (no grant was revoked).
    only_new = KeyRing([("new", new_key)])
    world.state.keyring = only_new
    for conn_id in conns:
        row = world.row(conn_id)
        assert blob_kid(row.refresh_ct or "") == "new"
        gid = row.subject.split("-", 1)[1]
        stored = only_new.open(row.refresh_ct or "", refresh_aad(conn_id)).reveal()
        assert stored == world.idp.current_refresh_token(gid)
        world.expire_access(conn_id)
        await get_access_token(world.state, conn_id)
    assert world.idp.stats.reused_refresh_tokens == 0
    assert not any(g.revoked for g in world.idp.grants.values())


async def test_rotate_key_file_while_a_backend_runs(
    database_url: str, tmp_path: Path, idp: tuple[MiniIdp, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Key-file mode: the running backend picks up the new key; the old one can then go."""
    from backend.config import Settings
    from backend.vault.keys import load_keyring

    monkeypatch.delenv("CONNECTED_ACCOUNTS_VAULT_KEYS", raising=False)
    data = tmp_path / "data"
    state = make_state(database_url, tmp_path)
    state.settings = Settings(database_url=database_url, data_dir=data, vault_keys=None)
    state.keyring = load_keyring(state.settings)
    await wire_provider(state, idp[1])
    world = World(state, idp[0])
    try:
        world.idp.access_lifetime_s = 2
        conns = [world.connect(f"f{i}")[0] for i in range(4)]
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

        summary, *_ = await asyncio.gather(rotate(), *(keep_using(c) for c in conns))
        assert f"the old key {old_kid} can now be removed" in summary
        new_kid = summary.split(" with key ")[1].split(";")[0]
        assert state.keyring.active_kid == new_kid  # the running ring reloaded the file
        for conn_id in conns:
            row = world.row(conn_id)
            assert blob_kid(row.refresh_ct or "") == new_kid
            assert blob_kid(row.access_ct or "") == new_kid
        assert world.idp.stats.reused_refresh_tokens == 0
    finally:
        await state.providers["demo"].aclose()
        state.engine.dispose()
