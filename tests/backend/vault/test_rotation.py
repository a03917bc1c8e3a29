"""rotate-key re-encrypts every stored secret; afterwards the old key can be dropped."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings
from backend.db.engine import make_engine, session_factory
from backend.db.migrate import upgrade
from backend.db.models import Connection, Flow, User
from backend.vault.crypto import KeyRing, aad, blob_kid, generate_key
from backend.vault.keys import load_keyring, rotate_key


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def seed(sessions: sessionmaker[Session], ring: KeyRing, n: int) -> dict[str, str]:
    """n connections (refresh + access) and n flows; returns row id -> plaintext per secret."""
    plain: dict[str, str] = {}
    now = datetime.now(UTC)
    with sessions.begin() as session:
        user = User(email=f"u{n}@example.test", password_hash="x")
        session.add(user)
        session.flush()
        for i in range(n):
            conn = Connection(id=f"c{i:03d}", user_id=user.id, provider="demo", subject=f"s{i}")
            conn.refresh_ct = ring.seal(f"rt-{i}", aad("connection", conn.id, "refresh_token"))
            plain[f"{conn.id}/refresh"] = f"rt-{i}"
            if i % 3:  # some rows have no access token
                conn.access_ct = ring.seal(f"at-{i}", aad("connection", conn.id, "access_token"))
                plain[f"{conn.id}/access"] = f"at-{i}"
            flow = Flow(
                id=f"f{i:03d}",
                user_id=user.id,
                provider="demo",
                redirect_uri="http://127.0.0.1:1/callback",
                provider_redirect_uri="http://127.0.0.1:1/callback",
                state_hash=f"{i:064d}",
                verifier_ct=ring.seal(f"pkce-{i}", aad("flow", f"f{i:03d}", "pkce_verifier")),
                expires_at=now + timedelta(minutes=10),
            )
            plain[f"{flow.id}/verifier"] = f"pkce-{i}"
            session.add_all([conn, flow])
    return plain


def read_all(sessions: sessionmaker[Session], ring: KeyRing) -> tuple[dict[str, str], set[str]]:
    out: dict[str, str] = {}
    kids: set[str] = set()
    with sessions() as session:
        for c in session.scalars(select(Connection)):
            for purpose, blob in (("refresh", c.refresh_ct), ("access", c.access_ct)):
                if blob is not None:
                    kids.add(blob_kid(blob))
                    name = f"{purpose}_token"
                    out[f"{c.id}/{purpose}"] = ring.open(
                        blob, aad("connection", c.id, name)
                    ).reveal()
        for f in session.scalars(select(Flow)):
            kids.add(blob_kid(f.verifier_ct))
            out[f"{f.id}/verifier"] = ring.open(
                f.verifier_ct, aad("flow", f.id, "pkce_verifier")
            ).reveal()
    return out, kids


def test_rotate_key_file_reencrypts_everything_and_the_old_key_can_go(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", vault_keys=None)
    old_ring = load_keyring(settings)
    plain = seed(sessions, old_ring, 120)  # more than one batch
    secrets_count = len(plain)

    summary = rotate_key(settings, sessions)

    entries = json.loads((tmp_path / "data" / "vault-keys.json").read_text())["keys"]
    new_kid, old_kid = entries[0]["kid"], entries[1]["kid"]
    assert old_kid == old_ring.active_kid
    assert summary == (
        f"Re-encrypted {secrets_count} secrets with key {new_kid}; the old key {old_kid} can now "
        f"be removed (from {tmp_path / 'data' / 'vault-keys.json'})."
    )
    only_new = KeyRing([(new_kid, base64.urlsafe_b64decode(entries[0]["key"]))])
    after, kids = read_all(sessions, only_new)
    assert after == plain
    assert kids == {new_kid}


def test_rotate_key_with_a_new_env_key_first_reencrypts_to_it(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    old, new = ("old", generate_key()), ("new", generate_key())
    plain = seed(sessions, KeyRing([old]), 5)
    spec = ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in (new, old))
    summary = rotate_key(Settings(data_dir=tmp_path, vault_keys=spec), sessions)
    assert summary == (
        f"Re-encrypted {len(plain)} secrets with key new; the old key old can now be removed "
        "(from CONNECTED_ACCOUNTS_VAULT_KEYS)."
    )
    after, kids = read_all(sessions, KeyRing([new]))
    assert after == plain
    assert kids == {"new"}
    # A second run finds nothing left to do.
    again = rotate_key(Settings(data_dir=tmp_path, vault_keys=spec), sessions)
    assert again.startswith("Re-encrypted 0 secrets with key new;")


def test_rotate_key_keeps_the_old_key_when_a_secret_cannot_be_read(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    old, new, lost = ("old", generate_key()), ("new", generate_key()), ("lost", generate_key())
    seed(sessions, KeyRing([old]), 2)
    with sessions.begin() as session:
        conn = session.get(Connection, "c001")
        assert conn is not None
        conn.refresh_ct = KeyRing([lost]).seal("x", aad("connection", "c001", "refresh_token"))
    spec = ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in (new, old))
    summary = rotate_key(Settings(data_dir=tmp_path, vault_keys=spec), sessions)
    assert "1 secrets could not be read" in summary
    assert "can now be removed" not in summary


def test_rotate_key_skips_the_emptied_verifiers_of_finished_flows(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """A finished flow's verifier is emptied (nothing left to seal): rotation neither counts it
    as unreadable nor tells the operator to keep the old key because of it."""
    old, new = ("old", generate_key()), ("new", generate_key())
    plain = seed(sessions, KeyRing([old]), 3)
    with sessions.begin() as session:
        for flow in session.scalars(select(Flow)):
            if flow.id != "f000":
                flow.verifier_ct = ""  # completed or failed
                del plain[f"{flow.id}/verifier"]
    spec = ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in (new, old))
    summary = rotate_key(Settings(data_dir=tmp_path, vault_keys=spec), sessions)
    assert summary == (
        f"Re-encrypted {len(plain)} secrets with key new; the old key old can now be removed "
        "(from CONNECTED_ACCOUNTS_VAULT_KEYS)."
    )
    with sessions() as session:
        verifiers = {f.id: f.verifier_ct for f in session.scalars(select(Flow))}
    assert verifiers["f001"] == verifiers["f002"] == ""
    assert blob_kid(verifiers["f000"]) == "new"


def test_rotate_key_command_line(tmp_path: Path) -> None:
    """`connected-accounts-backend rotate-key` prints the summary; the file gains the new key."""
    database_url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    env_free = {"PATH": "/usr/bin:/bin", "CONNECTED_ACCOUNTS_DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run(
        [sys.executable, "-m", "backend.cli", "rotate-key", "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=120,
        env=env_free,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    entries = json.loads((tmp_path / "data" / "vault-keys.json").read_text())["keys"]
    assert len(entries) == 2
    assert run.stdout.strip().startswith(f"Re-encrypted 0 secrets with key {entries[0]['kid']};")
    for entry in entries:
        assert entry["key"] not in run.stdout + run.stderr
