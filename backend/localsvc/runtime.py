"""The runtime file (where the service listens, its pid) and the local secret. Stdlib only.

A client never trusts the runtime file by itself: it asks the service there to prove that it
holds this user's secret (`identity_proof`, an HMAC over a fresh nonce) before it sends
anything, so a program that took over the port after a crash learns nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from backend.localsvc.paths import (
    RUNTIME_FILE,
    SECRET_FILE,
    read_private,
    write_private,
)

SERVICE_NAME = "connected-accounts-local"
PROOF_LABEL = b"connected-accounts local identity v1:"
CLIENT_PROOF_LABEL = b"connected-accounts local client v1:"


@dataclass(frozen=True)
class RuntimeInfo:
    """What the runtime file says; `instance` is fresh per service start (not a secret)."""

    url: str
    pid: int
    instance: str
    started_at: float
    idle_timeout: float


def read_runtime(folder: Path) -> RuntimeInfo | None:
    raw = read_private(folder / RUNTIME_FILE)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        info = RuntimeInfo(
            url=str(data["url"]),
            pid=int(data["pid"]),
            instance=str(data["instance"]),
            started_at=float(data["started_at"]),
            idle_timeout=float(data["idle_timeout"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if not info.url.startswith("http://127.0.0.1:") or info.pid <= 0:
        return None
    return info


def write_runtime(folder: Path, info: RuntimeInfo) -> None:
    write_private(folder / RUNTIME_FILE, json.dumps(asdict(info)).encode())


def remove_runtime_if_ours(folder: Path, pid: int, instance: str) -> bool:
    """Remove the runtime file only while it still names this service (never a successor's)."""
    info = read_runtime(folder)
    if info is None or info.pid != pid or info.instance != instance:
        return False
    with contextlib.suppress(FileNotFoundError):
        os.unlink(folder / RUNTIME_FILE)
    return True


def remove_stale_runtime(folder: Path, stale: RuntimeInfo) -> None:
    """Drop a runtime file a client found stale, unless a new service has replaced it since."""
    remove_runtime_if_ours(folder, stale.pid, stale.instance)


def new_secret(folder: Path) -> bytes:
    """A fresh 256-bit secret in the 0600 secret file; returns it."""
    value = secrets.token_urlsafe(32).encode()
    write_private(folder / SECRET_FILE, value)
    return value


def read_secret(folder: Path) -> bytes | None:
    raw = read_private(folder / SECRET_FILE, limit=256)
    return raw.strip() if raw else None


def remove_secret_if_ours(folder: Path, value: bytes) -> None:
    current = read_secret(folder)
    if current is not None and hmac.compare_digest(current, value):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / SECRET_FILE)


def identity_proof(secret: bytes, nonce: str) -> str:
    return hmac.new(secret, PROOF_LABEL + nonce.encode(), hashlib.sha256).hexdigest()


def proof_matches(secret: bytes, nonce: str, proof: str) -> bool:
    return hmac.compare_digest(identity_proof(secret, nonce), proof)


def client_proof(secret: bytes, nonce: str) -> str:
    """The client's half: it may see the service's details (uptime, where the vault key is)."""
    return hmac.new(secret, CLIENT_PROOF_LABEL + nonce.encode(), hashlib.sha256).hexdigest()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, but not ours (the proof will fail)
    return True
