"""Vault ciphertexts attacked in the database, observed through the API.

Rules: design rule "Storage" — AES-256-GCM with associated data binding each ciphertext to its
connection and purpose; ARCHITECTURE "Vault" — AAD `connection:{id}:{purpose}`, errors
`VaultKeyMissing` / `VaultDecryptError`; a ciphertext that does not verify is never used.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select, update

from backend.db.models import Connection
from tests.backend.api.conftest import ApiBackend, complete, query_of, start_flow
from tests.backend.conftest import SignedIn
from tests.support.browser import play_consent

SECRET_NAMES = ("refresh_ct", "access_ct")


def connect_as(user: SignedIn, person: str) -> dict[str, Any]:
    """Connect Demo Ads as one of the sandbox's people (Dana Demo or Sam Sample)."""
    flow = start_flow(user)
    back = query_of(play_consent(flow["authorization_url"], user=person))
    resp = complete(user, flow, back)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def report(user: SignedIn, conn: dict[str, Any]) -> Any:
    return user.client.get(
        f"/v1/connections/{conn['id']}/reports",
        params={"account": conn["accounts"][0]["id"], "since": "2026-11-01", "until": "2026-11-03"},
    )


def row(backend: ApiBackend, connection_id: str) -> Any:
    table = Connection.__table__
    with backend.state.engine.connect() as db:
        return db.execute(select(table).where(table.c.id == connection_id)).one()


def set_columns(backend: ApiBackend, connection_id: str, **values: Any) -> None:
    with backend.state.engine.begin() as db:
        db.execute(update(Connection).where(Connection.id == connection_id).values(**values))


def assert_fails_closed(resp: Any, other_account_names: set[str]) -> None:
    assert resp.status_code == 409, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["code"] == "needs_reconnect"
    assert "integrity" in body["detail"]
    assert not any(name in resp.text for name in other_account_names)


def test_ciphertext_copied_from_another_connection_does_not_decrypt(
    backend: ApiBackend, user: SignedIn, other_user: SignedIn
) -> None:
    """AAD binds a ciphertext to its row: another user's sealed tokens, copied over this
    connection's, fail closed with plain words and never serve the other person's account."""
    victim = connect_as(user, "Dana Demo")
    attacker = connect_as(other_user, "Sam Sample")
    victim_row = row(backend, victim["id"])
    set_columns(backend, attacker["id"], **{c: getattr(victim_row, c) for c in SECRET_NAMES})

    resp = report(other_user, attacker)
    victim_names = {victim["display_name"], *(a["name"] for a in victim["accounts"])}
    assert_fails_closed(resp, victim_names)
    # And forcing a refresh (check=true) does not open it either.
    checked = other_user.client.get(f"/v1/connections/{attacker['id']}", params={"check": "true"})
    assert victim["display_name"] not in checked.text
    assert report(user, victim).status_code == 200  # the victim's own connection is untouched


def test_ciphertext_moved_between_purposes_does_not_decrypt(
    backend: ApiBackend, user: SignedIn
) -> None:
    """AAD binds the purpose too: the refresh token sealed as this row's access token fails."""
    conn = connect_as(user, "Dana Demo")
    sealed = row(backend, conn["id"])
    set_columns(backend, conn["id"], access_ct=sealed.refresh_ct)
    assert_fails_closed(report(user, conn), set())


def test_tampered_ciphertext_fails_closed(backend: ApiBackend, user: SignedIn) -> None:
    """GCM tag check: one flipped bit in the sealed tokens is a clear needs_reconnect."""
    conn = connect_as(user, "Dana Demo")
    sealed = row(backend, conn["id"])
    tampered = {}
    for column in SECRET_NAMES:
        prefix, key_id, body = getattr(sealed, column).split(".", 2)
        raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        raw[-1] ^= 1
        tampered[column] = ".".join(
            (prefix, key_id, base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode())
        )
    set_columns(backend, conn["id"], **tampered)
    assert_fails_closed(report(user, conn), set())


def test_a_key_missing_from_the_ring_is_a_clear_error(backend: ApiBackend, user: SignedIn) -> None:
    """VaultKeyMissing: the problem names the key id and what to do, and shows no ciphertext."""
    conn = connect_as(user, "Dana Demo")
    sealed = row(backend, conn["id"])
    moved = {c: getattr(sealed, c).replace(".test1.", ".retired7.", 1) for c in SECRET_NAMES}
    set_columns(backend, conn["id"], **moved)
    resp = report(user, conn)
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert resp.status_code == 500, resp.text
    assert "retired7" in body["detail"]
    assert "restore" in body["detail"].lower()
    for value in moved.values():
        assert value.rsplit(".", 1)[1][:16] not in resp.text


def nonce_of(blob: str) -> bytes:
    body = blob.rsplit(".", 1)[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[:12]


def test_every_write_uses_a_fresh_nonce(backend: ApiBackend, user: SignedIn) -> None:
    """AES-GCM (NIST SP 800-38D §8): a nonce is never reused under one key — every ciphertext
    written for the same account across reconnects carries a nonce of its own."""
    blobs: set[str] = set()
    for _ in range(4):
        conn = connect_as(user, "Dana Demo")
        sealed = row(backend, conn["id"])
        blobs |= {getattr(sealed, c) for c in SECRET_NAMES}
    assert len(blobs) == 8  # each reconnect rewrote both tokens
    assert len({nonce_of(b) for b in blobs}) == len(blobs)
