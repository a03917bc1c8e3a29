"""GET /v1/auth/devices and DELETE /v1/auth/devices/{id}."""

from __future__ import annotations

import time
import uuid

from tests.backend.auth.conftest import login_device, make_assertion, renew, token_url
from tests.backend.conftest import Backend, BackendFactory, SignedIn, sign_in


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_devices_lists_the_users_signed_in_devices(
    backend: Backend, user: SignedIn, other_user: SignedIn
) -> None:
    _, second = login_device(backend, user.email, user.password, device_name="Work desktop")
    resp = user.client.get("/v1/auth/devices")
    assert resp.status_code == 200
    listed = {d["id"]: d for d in resp.json()}
    assert set(listed) == {user.device_id, second["device_id"]}
    assert listed[user.device_id]["current"] is True
    assert listed[second["device_id"]]["current"] is False
    assert listed[second["device_id"]]["name"] == "Work desktop"
    for device in listed.values():
        assert set(device) == {"id", "name", "created_at", "last_seen_at", "current"}
        assert device["created_at"].endswith("Z")
        assert device["last_seen_at"].endswith("Z")


def test_signing_out_another_device_stops_its_tokens_and_assertions(
    backend: Backend, user: SignedIn
) -> None:
    key, second = login_device(backend, user.email, user.password, device_name="Old phone")
    with backend.client(headers=_bearer(second["access_token"])) as c:
        assert c.get("/v1/auth/devices").status_code == 200
    assert user.client.delete(f"/v1/auth/devices/{second['device_id']}").status_code == 204
    assert [d["id"] for d in user.client.get("/v1/auth/devices").json()] == [user.device_id]
    with backend.client(headers=_bearer(second["access_token"])) as c:
        resp = c.get("/v1/auth/devices")
    assert resp.status_code == 401
    assert "signed out" in resp.json()["detail"]
    assert (
        renew(backend, make_assertion(key, second["device_id"], token_url(backend))).status_code
        == 401
    )
    # Signing out twice is fine.
    assert user.client.delete(f"/v1/auth/devices/{second['device_id']}").status_code == 204


def test_signing_out_the_current_device_ends_its_session(backend: Backend, user: SignedIn) -> None:
    assert user.client.delete(f"/v1/auth/devices/{user.device_id}").status_code == 204
    resp = user.client.get("/v1/auth/devices")
    assert resp.status_code == 401
    assert resp.json()["code"] == "unauthorized"
    assertion = make_assertion(user.device_key, user.device_id, token_url(backend))
    assert renew(backend, assertion).status_code == 401


def test_another_users_device_is_not_found(
    backend: Backend, user: SignedIn, other_user: SignedIn
) -> None:
    for device_id in (other_user.device_id, str(uuid.uuid4())):
        resp = user.client.delete(f"/v1/auth/devices/{device_id}")
        assert resp.status_code == 404
        assert resp.json()["code"] == "not_found"
    assert other_user.client.get("/v1/auth/devices").status_code == 200


def test_a_sign_out_through_one_process_reaches_the_others_within_seconds(
    backend_factory: BackendFactory,
) -> None:
    first, second = backend_factory(sandbox=False), backend_factory(sandbox=False)
    signed = sign_in(first)
    try:
        with second.client(headers=_bearer(signed.access_token)) as c:
            assert c.get("/v1/auth/devices").status_code == 200  # now cached as signed in
            assert signed.client.delete(f"/v1/auth/devices/{signed.device_id}").status_code == 204
            started = time.monotonic()
            while (status := c.get("/v1/auth/devices").status_code) == 200:
                assert time.monotonic() - started < 30, (
                    "the sign-out never reached the other process"
                )
                time.sleep(0.1)
            assert status == 401
    finally:
        signed.client.close()
