"""No secret ever reaches an event: not the stream's bytes, not the stored event rows.

Rules: design rule "Storage" and "Who holds what" — no token, code, verifier or ciphertext in API
answers or in the database in plaintext.
"""

from __future__ import annotations

from sqlalchemy import select

from backend.db.models import Connection, ConnectionEvent
from tests.backend.api.conftest import ApiBackend, complete, consent, start_flow
from tests.backend.api.sandbox import api_fails, revoke_at_sandbox
from tests.backend.conftest import SignedIn
from tests.backend.events.helpers import imported, of
from tests.support.sse import EventReader


def stored_secrets(backend: ApiBackend, conn_id: str) -> list[str]:
    """The connection's ciphertexts and what they decrypt to."""
    with backend.state.engine.connect() as db:
        row = db.execute(select(Connection.__table__).where(Connection.id == conn_id)).one()
    out = []
    for column, purpose in (("refresh_ct", "refresh_token"), ("access_ct", "access_token")):
        blob = getattr(row, column)
        if blob:
            out.append(blob)
            out.append(backend.state.keyring.open(blob, f"connection:{conn_id}:{purpose}").reveal())
    return out


def test_events_of_every_kind_carry_no_secret(backend: ApiBackend, user: SignedIn) -> None:
    secrets: list[str] = [user.access_token]
    with EventReader(backend.url, user.access_token) as stream:
        flow = start_flow(user)
        back = consent(flow)
        secrets += [back["code"], back["state"]]
        made = complete(user, flow, back).json()
        stream.wait_for(of(made["id"]))
        secrets += stored_secrets(backend, made["id"])

        conn, tokens = imported(backend, user)
        secrets += [tokens["refresh_token"], tokens["access_token"]]
        stream.wait_for(of(conn["id"]))
        secrets += stored_secrets(backend, conn["id"])
        params = {"since": "2026-11-01", "until": "2026-11-02"}
        with api_fails(backend):
            user.client.get(f"/v1/connections/{conn['id']}/reports", params=params)
        stream.wait_for(lambda e: e["kind"] == "error")
        user.client.get(f"/v1/connections/{conn['id']}/reports", params=params)
        stream.wait_for(lambda e: e["kind"] == "connected" and e["connection_id"] == conn["id"])
        secrets += stored_secrets(backend, conn["id"])

        revoke_at_sandbox(backend)
        user.client.get(f"/v1/connections/{made['id']}", params={"check": "true"})
        stream.wait_for(lambda e: e["kind"] == "needs_reconnect")
        user.client.delete(f"/v1/connections/{conn['id']}")
        stream.wait_for(lambda e: e["kind"] == "revocation_settled")

    shown = "\n".join(stream.raw)
    kinds = {line.split('"kind":"')[1].split('"')[0] for line in stream.raw if '"kind"' in line}
    assert {"connected", "error", "needs_reconnect", "disconnected", "revocation_settled"} <= kinds
    with backend.state.engine.connect() as db:
        rows = db.execute(
            select(ConnectionEvent.__table__).where(ConnectionEvent.user_id == user.user_id)
        ).all()
    at_rest = "\n".join(repr(tuple(r)) for r in rows)
    assert len(rows) >= 6
    for secret in secrets:
        assert len(secret) >= 16
        assert secret not in shown
        assert secret not in at_rest
    for text in (shown, at_rest):
        assert "_ct" not in text
        assert "refresh_token" not in text
        assert "access_token" not in text
