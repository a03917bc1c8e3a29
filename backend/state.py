"""What one backend process holds: settings, database, vault, signing keys, providers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from backend.activity import Activity
from backend.config import Settings

if TYPE_CHECKING:
    from backend.auth.keys import SigningKey
    from backend.events.hub import EventHub
    from backend.providers.base import Provider
    from backend.user_limits import SlotLeases
    from backend.vault import KeyRing, Vault

T = TypeVar("T")


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: KeyRing
    signing_key: SigningKey
    public_url: str
    providers: dict[str, Provider] = field(default_factory=dict)
    read_inline: bool = False
    """Single-row reads may run on the event loop (db.engine.reads_never_wait)."""
    activity: Activity = field(default_factory=Activity)
    """Requests and event streams in flight; the local service stops when idle."""
    events: EventHub = field(init=False)
    """This process's open `GET /v1/events` streams and the feed that serves them."""

    def __post_init__(self) -> None:
        from backend.events.hub import EventHub

        self.events = EventHub(self.engine, poll_interval_s=self.settings.events_poll_s)

    @functools.cached_property
    def vault(self) -> Vault:
        """The token vault over this state's engine, key ring, providers and settings."""
        from backend.vault import Vault

        return Vault(self)

    @functools.cached_property
    def slot_leases(self) -> SlotLeases:
        """This process's leases of per-user in-flight slots (backend/user_limits.py)."""
        from backend.user_limits import SlotLeases

        return SlotLeases(self)

    def provider(self, provider_id: str) -> Provider:
        from backend.errors import InvalidRequest

        try:
            return self.providers[provider_id]
        except KeyError:
            raise InvalidRequest(self.unknown_provider_words(provider_id)) from None

    def unknown_provider_words(self, provider_id: str) -> str:
        """Which providers exist, and how an operator adds one (docs/PROVIDERS.md)."""
        offered = ", ".join(f"{p.display_name} ({pid})" for pid, p in self.providers.items())
        name = provider_id[:40]
        return (
            f"This backend has no provider called '{name}'; it offers "
            f"{offered or 'none yet'}. To add one, whoever runs the backend registers an app "
            f"with the platform, adds a [providers.{name}] table to the backend's configuration "
            "file and restarts it: `connected-accounts-backend presets` lists what each "
            "platform needs, and docs/PROVIDERS.md explains the steps."
        )

    async def run_db(self, fn: Callable[[Session], T]) -> T:
        """Run `fn(session)` in a worker thread in one transaction: commit on success."""

        def _work() -> T:
            with self.sessions.begin() as session:
                return fn(session)

        return await anyio.to_thread.run_sync(_work)
