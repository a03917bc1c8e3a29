"""Sandbox state: pending consents, codes, grants, tokens and per-client counters.

Every change happens under one lock (requests run concurrently on the event loop and in
threads). Tokens and codes are kept only as SHA-256 digests, so the optional state file holds
no usable credential. With `state_file` set, state is rewritten atomically after each change
so grants survive a restart of the app that embeds the sandbox.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

COUNTERS = (
    "codes_issued",
    "codes_redeemed",
    "token_requests",
    "refreshes",
    "refresh_failures",
    "reused_refresh_tokens",
    "revocations",
    "grants_revoked",
    "api_calls",
    "held_requests",
    "abandoned_requests",
)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    """An opaque random credential with a recognisable prefix (256 bits of entropy)."""
    return prefix + secrets.token_urlsafe(32)


@dataclass
class Pending:
    """An authorization request waiting for the person's Allow or Deny."""

    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str
    nonce: str | None
    login_hint: str | None
    browser: str  # binds the form to the browser that opened it (cookie), against CSRF
    expires_at: float


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    user_id: str
    scopes: list[str]
    code_challenge: str
    nonce: str | None
    expires_at: float
    used: bool = False
    grant_id: str | None = None  # the grant the first redemption created


@dataclass
class Grant:
    id: str
    client_id: str
    user_id: str
    scopes: list[str]
    created_at: float
    refresh: str | None = None  # digest of the one live refresh token
    spent: list[str] = field(default_factory=list)  # digests of rotated-out refresh tokens
    revoked: bool = False


@dataclass
class Access:
    grant_id: str
    client_id: str
    expires_at: float
    revoked: bool = False


class Store:
    """All mutable sandbox state; hold `lock` while reading or changing it."""

    def __init__(
        self, state_file: Path | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.state_file = state_file
        self.pending: dict[str, Pending] = {}
        self.codes: dict[str, Code] = {}
        self.grants: dict[str, Grant] = {}
        self.refresh_index: dict[str, str] = {}  # refresh digest (live or spent) -> grant id
        self.access: dict[str, Access] = {}
        self.counters: dict[str, dict[str, int]] = {}
        if state_file is not None:
            self._load()

    def count(self, client_id: str, name: str, n: int = 1) -> None:
        row = self.counters.setdefault(client_id, dict.fromkeys(COUNTERS, 0))
        row[name] = row.get(name, 0) + n

    def revoke_grant(self, grant: Grant) -> None:
        """End a grant: its refresh token and every access token it issued stop working."""
        if not grant.revoked:
            grant.revoked = True
            self.count(grant.client_id, "grants_revoked")
        for access in self.access.values():
            if access.grant_id == grant.id:
                access.revoked = True

    def reset(self) -> None:
        self.pending.clear()
        self.codes.clear()
        self.grants.clear()
        self.refresh_index.clear()
        self.access.clear()
        self.counters.clear()
        self.save()

    def prune(self, now: float) -> None:
        """Forget what can no longer matter; keeps memory and the state file small."""
        self.pending = {k: p for k, p in self.pending.items() if p.expires_at > now}
        # Used codes are kept a while longer so a replay can still be detected (RFC 6749 §4.1.2).
        self.codes = {k: c for k, c in self.codes.items() if c.expires_at + 600 > now}
        self.access = {k: a for k, a in self.access.items() if a.expires_at + 60 > now}

    # Persistence: one JSON document, replaced atomically (write temp file, fsync, rename).

    def save(self) -> None:
        if self.state_file is None:
            return
        self.prune(self.clock())
        doc = {
            "version": 1,
            "codes": {k: asdict(v) for k, v in self.codes.items()},
            "grants": {k: asdict(v) for k, v in self.grants.items()},
            "access": {k: asdict(v) for k, v in self.access.items()},
            "counters": self.counters,
        }
        path = self.state_file
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".sandbox-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _load(self) -> None:
        assert self.state_file is not None
        try:
            doc: dict[str, Any] = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            log.warning(
                "Demo Ads could not read its state file %s; starting empty.", self.state_file
            )
            return
        try:
            self.codes = {k: Code(**v) for k, v in doc.get("codes", {}).items()}
            self.grants = {k: Grant(**v) for k, v in doc.get("grants", {}).items()}
            self.access = {k: Access(**v) for k, v in doc.get("access", {}).items()}
            self.counters = {k: dict(v) for k, v in doc.get("counters", {}).items()}
        except (TypeError, AttributeError):  # a file from another version: start over
            log.warning(
                "Demo Ads did not understand its state file %s; starting empty.", self.state_file
            )
            self.codes, self.grants, self.access, self.counters = {}, {}, {}, {}
            return
        for grant in self.grants.values():
            for d in [grant.refresh, *grant.spent]:
                if d:
                    self.refresh_index[d] = grant.id
