"""Refresh-engine fixtures: the real sandbox over uvicorn, a real database, the real provider."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
import pytest
from sqlalchemy import select, update

from backend.config import Settings
from backend.db.engine import make_engine, session_factory
from backend.db.migrate import upgrade
from backend.db.models import Connection, User
from backend.providers.registry import build_provider
from backend.secret import Secret
from backend.state import AppState
from backend.vault.crypto import KeyRing
from backend.vault.tokens import store_tokens
from tests.backend.conftest import TEST_VAULT_KEY
from tests.backend.vault.sandbox_driver import SandboxDriver
from tests.support.browser import play_consent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox() -> Iterator[SandboxDriver]:
    driver = SandboxDriver()
    yield driver
    driver.close()


def make_state(database_url: str, tmp_path: Path, keyring: KeyRing | None = None) -> AppState:
    engine = make_engine(database_url)
    upgrade(engine)
    settings = Settings(database_url=database_url, data_dir=tmp_path, vault_keys=TEST_VAULT_KEY)
    return AppState(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        keyring=keyring or KeyRing.parse(TEST_VAULT_KEY),
        signing_key=None,  # type: ignore[arg-type]  # not used by the vault
        public_url="http://127.0.0.1:1",
    )


@dataclass
class World:
    """One backend's state wired to the sandbox, plus helpers to make connections."""

    state: AppState
    sandbox: SandboxDriver

    async def connect(self) -> tuple[str, str]:
        """(connection id, sandbox person): the real code flow with PKCE, then store_tokens."""
        person = self.sandbox.next_person()
        provider = self.state.providers["demo"]
        verifier = secrets.token_urlsafe(32)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        redirect_uri = "http://127.0.0.1:9/callback"
        url = provider.authorization_url(
            redirect_uri=redirect_uri,
            state=secrets.token_urlsafe(16),
            code_challenge=challenge.rstrip(b"=").decode(),
            nonce=None,
        )
        location = await anyio.to_thread.run_sync(lambda: play_consent(url, user=person))
        code = parse_qs(urlsplit(location).query)["code"][0]
        tokens = await provider.redeem_code(
            code=Secret(code), redirect_uri=redirect_uri, code_verifier=Secret(verifier)
        )
        with self.state.sessions.begin() as session:
            user = session.scalars(select(User)).first()
            if user is None:
                user = User(email="vault@example.test", password_hash="x")
                session.add(user)
                session.flush()
            conn = Connection(user_id=user.id, provider="demo", subject=person)
            store_tokens(session, self.state.keyring, conn, tokens, now=datetime.now(UTC))
            conn_id = conn.id
        return conn_id, person

    def row(self, conn_id: str) -> Connection:
        with self.state.sessions() as session:
            conn = session.get(Connection, conn_id)
            assert conn is not None
            return conn

    def expire_access(self, conn_id: str, *, remaining_s: float = -1.0) -> None:
        """Move the stored access token's expiry (one UPDATE: no read-then-write on SQLite)."""
        with self.state.sessions.begin() as session:
            session.execute(
                update(Connection)
                .where(Connection.id == conn_id)
                .values(access_expires_at=datetime.now(UTC) + timedelta(seconds=remaining_s))
            )

    async def aexpire(self, conn_id: str, *, remaining_s: float = -1.0) -> None:
        """`expire_access` off the event loop (a refresh holding the lock may need the loop)."""
        await anyio.to_thread.run_sync(lambda: self.expire_access(conn_id, remaining_s=remaining_s))


async def wire_provider(state: AppState, url: str) -> None:
    """The real `demo` preset provider pointed at the sandbox (fast retries)."""
    state.providers["demo"] = await build_provider(
        "demo",
        {"preset": "demo", "retry_base_delay_s": 0.01, "retry_max_delay_s": 0.05},
        env={},
        public_url=state.public_url,
        sandbox_url=url,
    )


@pytest.fixture
async def world(database_url: str, tmp_path: Path, sandbox: SandboxDriver) -> AsyncIterator[World]:
    state = make_state(database_url, tmp_path)
    await wire_provider(state, sandbox.url)
    yield World(state, sandbox)
    for provider in state.providers.values():
        await provider.aclose()
    state.engine.dispose()
