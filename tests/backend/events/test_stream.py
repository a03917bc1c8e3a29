"""GET /v1/events: each kind of connection change reaches the owner's open streams, as the
connection object the API shows, with the reason in words, and nothing else reaches them.

Rules: design rule "HTTP API" (`GET /v1/events`), "Connection status"; no secret in any answer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from backend.db.models import Connection
from tests.backend.api.conftest import ApiBackend, connect
from tests.backend.api.sandbox import api_fails, revoke_at_sandbox, revoke_fails
from tests.backend.conftest import SignedIn
from tests.backend.events.helpers import imported, of
from tests.support.sse import EventReader


def shown(user: SignedIn, conn_id: str) -> dict[str, Any]:
    resp = user.client.get(f"/v1/connections/{conn_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_a_connect_is_announced_as_the_api_shows_the_connection(
    backend: ApiBackend, user: SignedIn
) -> None:
    with EventReader(backend.url, user.access_token) as stream:
        conn = connect(user)
        event = stream.wait_for(of(conn["id"]))[-1]
    assert stream.status == 200
    assert stream.content_type.startswith("text/event-stream")
    assert event["kind"] == "connected"
    assert event["status"] == "connected"
    assert event["reason"] is None
    assert event["connection_id"] == conn["id"]
    assert event["connection"] == shown(user, conn["id"])
    assert isinstance(event["id"], int)
    assert f"id: {event['id']}" in stream.raw


def test_an_import_is_announced(backend: ApiBackend, user: SignedIn) -> None:
    with EventReader(backend.url, user.access_token) as stream:
        conn, _ = imported(backend, user)
        event = stream.wait_for(of(conn["id"]))[-1]
    assert (event["kind"], event["status"]) == ("connected", "connected")
    assert event["connection"] == shown(user, conn["id"])


def test_a_refresh_that_finds_the_grant_revoked_announces_needs_reconnect_in_words(
    backend: ApiBackend, user: SignedIn
) -> None:
    conn = connect(user)
    with EventReader(backend.url, user.access_token) as stream:
        revoke_at_sandbox(backend)
        checked = user.client.get(f"/v1/connections/{conn['id']}", params={"check": "true"})
        assert checked.json()["status"] == "needs_reconnect"
        event = stream.wait_for(of(conn["id"]))[-1]
    assert (event["kind"], event["status"]) == ("needs_reconnect", "needs_reconnect")
    assert "Demo Ads" in event["reason"]
    assert "Reconnect" in event["reason"]
    assert event["connection"] == shown(user, conn["id"])


def test_a_failing_provider_is_announced_as_an_error_and_its_recovery_too(
    backend: ApiBackend, user: SignedIn
) -> None:
    conn = connect(user)
    params = {"since": "2026-11-01", "until": "2026-11-02"}
    path = f"/v1/connections/{conn['id']}/reports"
    with EventReader(backend.url, user.access_token) as stream:
        with api_fails(backend):
            assert user.client.get(path, params=params).status_code == 503
        failed = stream.wait_for(of(conn["id"]))[-1]
        assert user.client.get(path, params=params).status_code == 200
        recovered = stream.wait_for(of(conn["id"]))[-1]
    assert (failed["kind"], failed["status"]) == ("error", "error")
    assert failed["reason"]
    assert failed["reason"] == failed["connection"]["last_error"]
    assert failed["connection"]["last_error_at"]
    assert (recovered["kind"], recovered["status"]) == ("connected", "connected")
    assert recovered["connection"] == shown(user, conn["id"])


def test_a_disconnect_is_announced_then_its_revocation_settling(
    backend: ApiBackend, user: SignedIn
) -> None:
    conn = connect(user)
    with EventReader(backend.url, user.access_token) as stream:
        assert user.client.delete(f"/v1/connections/{conn['id']}").status_code == 200
        taken = stream.wait_for(of(conn["id"]))[-1]
        settled = stream.wait_for(of(conn["id"]))[-1]
    assert (taken["kind"], taken["status"]) == ("disconnected", "disconnected")
    assert taken["connection"]["revocation_pending"] is True
    assert (settled["kind"], settled["status"]) == ("revocation_settled", "disconnected")
    assert settled["connection"]["revocation_pending"] is False
    assert settled["reason"] == "Disconnected."


def test_a_revocation_retried_later_is_announced_when_it_settles(
    backend: ApiBackend, user: SignedIn
) -> None:
    conn, _ = imported(backend, user)
    with EventReader(backend.url, user.access_token) as stream:
        with revoke_fails(backend):
            assert user.client.delete(f"/v1/connections/{conn['id']}").json()["revocation_pending"]
            pending = stream.wait_for(of(conn["id"]))[-1]

        def listing_retries(event: dict[str, Any]) -> bool:
            # Listing retries a due revocation in the background; keep listing until it has.
            user.client.get("/v1/connections")
            return event["kind"] == "revocation_settled"

        user.client.get("/v1/connections")
        settled = stream.wait_for(lambda e: e["connection_id"] == conn["id"] and listing_retries(e))
    assert pending["kind"] == "disconnected"
    assert "could not be reached" in pending["reason"]
    assert pending["connection"]["revocation_pending"] is True
    assert settled[-1]["connection"]["revocation_pending"] is False


def test_forgetting_a_pending_revocation_is_announced(backend: ApiBackend, user: SignedIn) -> None:
    conn, _ = imported(backend, user)
    with EventReader(backend.url, user.access_token) as stream, revoke_fails(backend):
        user.client.delete(f"/v1/connections/{conn['id']}")
        user.client.delete(f"/v1/connections/{conn['id']}", params={"forget": "true"})
        first, second = stream.wait_for(of(conn["id"])), stream.wait_for(of(conn["id"]))
    assert first[-1]["connection"]["revocation_pending"] is True
    assert second[-1]["kind"] == "disconnected"
    assert second[-1]["connection"]["revocation_pending"] is False
    assert "Forgotten" in second[-1]["reason"]


def test_a_check_that_finds_other_ad_accounts_announces_the_update(
    backend: ApiBackend, user: SignedIn
) -> None:
    conn = connect(user)
    with backend.state.sessions.begin() as session:
        session.execute(update(Connection).where(Connection.id == conn["id"]).values(accounts=[]))
    with EventReader(backend.url, user.access_token) as stream:
        user.client.get(f"/v1/connections/{conn['id']}", params={"check": "true"})
        event = stream.wait_for(of(conn["id"]))[-1]
    assert event["kind"] == "updated"
    assert event["connection"]["accounts"] == conn["accounts"]


def test_another_users_stream_never_sees_my_changes(
    backend: ApiBackend, user: SignedIn, other_user: SignedIn
) -> None:
    with (
        EventReader(backend.url, user.access_token) as mine,
        EventReader(backend.url, other_user.access_token) as theirs,
    ):
        conn = connect(user)
        user.client.delete(f"/v1/connections/{conn['id']}")
        mine_seen = mine.wait_for(lambda e: e["kind"] == "revocation_settled")
        # Their own change commits after all of mine: had mine reached their stream, it would
        # have come first (streams deliver in commit order).
        own, _ = imported(backend, other_user)
        theirs_seen = theirs.wait_for(of(own["id"]))
        later = connect(user)
        mine_seen += mine.wait_for(of(later["id"]))
    assert [e["connection_id"] for e in theirs_seen] == [own["id"]]
    assert own["id"] not in {e["connection_id"] for e in mine_seen}
    assert other_user.user_id not in "\n".join(mine.raw)
    assert conn["id"] not in "\n".join(theirs.raw)


def test_a_reconnecting_stream_gets_what_it_missed_after_its_last_event_id(
    backend: ApiBackend, user: SignedIn
) -> None:
    with EventReader(backend.url, user.access_token) as stream:
        conn = connect(user)
        last = stream.wait_for(of(conn["id"]))[-1]["id"]
    user.client.delete(f"/v1/connections/{conn['id']}")  # while no stream is open
    with EventReader(backend.url, user.access_token, last_event_id=last) as again:
        missed = [again.next(), again.next()]
    assert [e["kind"] for e in missed] == ["disconnected", "revocation_settled"]
    assert all(e["id"] > last for e in missed)


def test_without_a_sign_in_the_stream_is_refused_in_words(backend: ApiBackend) -> None:
    stream = EventReader(backend.url, None).start()
    stream.ended.wait(30)
    assert stream.status == 401
    assert '"code":"unauthorized"' in "".join(stream.raw).replace(" ", "")
    stream.close()


def test_the_openapi_document_describes_the_stream(backend: ApiBackend) -> None:
    doc = backend.client().get("/openapi.json").json()
    get = doc["paths"]["/v1/events"]["get"]
    assert "text/event-stream" in get["responses"]["200"]["content"]
    assert "401" in get["responses"]
    assert [p["name"] for p in get["parameters"]] == ["last-event-id"]
