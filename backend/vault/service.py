"""`Vault`: the few operations the rest of the backend needs from the token vault.

Routes get it through `VaultDep` (backend/deps.py); services reach it as `state.vault`.
It raises vault errors (backend/vault/errors.py) and lets provider errors pass, never an
HTTP problem: backend/errors.py turns both into problem+json.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session

from backend.secret import Secret
from backend.vault.crypto import KeyRing, VaultDecryptError, VaultKeyMissing
from backend.vault.refresh import Token, TokenRow, access_aad, cached_token, refresh_aad
from backend.vault.tokens import call_with_token, get_access_token, store_tokens

if TYPE_CHECKING:
    from backend.db.models import Connection
    from backend.providers.base import TokenSet
    from backend.state import AppState

T = TypeVar("T")


class Vault:
    """Sealed tokens of the backend's connections, over one process's settings and key ring."""

    def __init__(self, state: AppState) -> None:
        # The vault's refresh path reads the engine, sessions, key ring, providers and
        # settings the process holds; it keeps the state rather than copies that could drift.
        self._state = state

    @property
    def keyring(self) -> KeyRing:
        return self._state.keyring

    def store(self, session: Session, conn: Connection, tokens: TokenSet, *, now: datetime) -> None:
        """Seal the tokens of a new or reconnected grant into `conn`; the caller commits."""
        store_tokens(session, self._state.keyring, conn, tokens, now=now)

    async def access_token(self, connection_id: str, *, force_refresh: bool = False) -> Secret:
        """A usable access token: the stored one until shortly before expiry, else a refresh."""
        return await get_access_token(self._state, connection_id, force_refresh=force_refresh)

    async def call_with_token(
        self,
        connection_id: str,
        fn: Callable[[Secret], Awaitable[T]],
        *,
        first: Token | None = None,
    ) -> T:
        """`fn(access_token)`, refreshing once on a rejected token; failures land on the row."""
        return await call_with_token(self._state, connection_id, fn, first=first)

    def peek(self, row: TokenRow, *, now: datetime) -> Token | None:
        """The stored access token if usable as it is (no refresh, no error): else None.

        A key or integrity problem is left for `call_with_token`, which says it in words."""
        try:
            return cached_token(self._state, row, rejected_version=None, now=now)
        except (VaultKeyMissing, VaultDecryptError):
            return None

    def open_tokens(
        self, conn: Connection, *, now: datetime
    ) -> tuple[Secret | None, Secret | None]:
        """(access token if not expired, refresh token) of `conn`, for revoking them."""
        access = None
        if conn.access_ct and (conn.access_expires_at is None or conn.access_expires_at > now):
            access = self._state.keyring.open(conn.access_ct, access_aad(conn.id))
        return access, self.open_refresh(conn)

    def open_refresh(self, conn: Connection) -> Secret | None:
        """The refresh token of `conn`, if it still has one."""
        if not conn.refresh_ct:
            return None
        return self._state.keyring.open(conn.refresh_ct, refresh_aad(conn.id))

    @staticmethod
    def forget(conn: Connection) -> None:
        """Crypto-shred `conn`'s tokens: the ciphertexts go, and the version moves on so no
        refresh in flight writes new ones over the shredding. The caller commits."""
        conn.refresh_ct = None
        conn.access_ct = None
        conn.access_expires_at = None
        conn.token_version += 1

    def seal(self, plaintext: str | Secret, aad: str) -> str:
        """Seal another secret (a flow's PKCE verifier or parked grant) bound to `aad`."""
        return self._state.keyring.seal(plaintext, aad)

    def open(self, blob: str, aad: str) -> Secret:
        """Open what `seal` sealed with the same `aad`; raises VaultError if it does not verify."""
        return self._state.keyring.open(blob, aad)
