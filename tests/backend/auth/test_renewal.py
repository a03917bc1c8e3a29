"""POST /v1/auth/token: RFC 7523 JWT-bearer renewal with the device key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text

from tests.backend.auth.conftest import db_snapshot, login_device, make_assertion, renew, token_url
from tests.backend.conftest import Backend, SignedIn


def test_assertion_signed_by_the_device_key_renews_the_access_token(
    backend: Backend, user: SignedIn
) -> None:
    for as_json in (False, True):  # a form body (RFC 7523 §2.1) and JSON both work
        assertion = make_assertion(user.device_key, user.device_id, token_url(backend))
        resp = renew(backend, assertion, as_json=as_json)
        assert resp.status_code == 200, resp.text
        assert resp.headers["cache-control"] == "no-store"
        body = resp.json()
        assert set(body) == {"access_token", "token_type", "expires_in", "device_id"}
        assert body["token_type"] == "Bearer"
        assert body["device_id"] == user.device_id
        assert 0 < body["expires_in"] <= 900
        assert body["access_token"] != user.access_token
        claims = jwt.decode(
            body["access_token"],
            backend.state.signing_key.public_key,
            algorithms=["ES256"],
            audience="connected-accounts-api",
        )
        assert (claims["sub"], claims["did"]) == (user.user_id, user.device_id)
        with backend.client(headers={"Authorization": f"Bearer {body['access_token']}"}) as c:
            devices = c.get("/v1/auth/devices")
        assert devices.status_code == 200
        assert [d["id"] for d in devices.json() if d["current"]] == [user.device_id]


def test_an_assertion_works_once(backend: Backend, user: SignedIn) -> None:
    assertion = make_assertion(user.device_key, user.device_id, token_url(backend))
    assert renew(backend, assertion).status_code == 200
    replay = renew(backend, assertion, as_json=True)
    assert replay.status_code == 401
    assert replay.json()["code"] == "unauthorized"
    assert "used before" in replay.json()["detail"]


def test_used_jtis_past_their_expiry_are_pruned(backend: Backend, user: SignedIn) -> None:
    old = datetime.now(UTC) - timedelta(hours=1)
    with backend.state.sessions.begin() as session:
        session.execute(
            text("INSERT INTO used_jtis (jti, expires_at) VALUES ('stale', :at)"), {"at": old}
        )
    assert (
        renew(
            backend, make_assertion(user.device_key, user.device_id, token_url(backend))
        ).status_code
        == 200
    )
    jtis = [row.split("'")[1] for row in db_snapshot(backend)["used_jtis"]]
    assert len(jtis) == 1
    assert jtis[0].startswith(f"{user.device_id}:")


def _other_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_bad_assertions_are_rejected_and_change_nothing(
    backend: Backend, user: SignedIn, other_user: SignedIn
) -> None:
    aud = token_url(backend)
    key, did = user.device_key, user.device_id
    bad = {
        "wrong audience": make_assertion(key, did, f"{backend.url}/v1/auth/login"),
        "audience with a trailing slash": make_assertion(key, did, aud + "/"),
        "audience of another host": make_assertion(key, did, "https://evil.example/v1/auth/token"),
        "lifetime over five minutes": make_assertion(key, did, aud, lifetime=301),
        "expired": make_assertion(key, did, aud, iat_offset=-400, lifetime=120),
        "issued in the future": make_assertion(key, did, aud, iat_offset=600),
        "signed by another device's key": make_assertion(other_user.device_key, did, aud),
        "signed by an unknown key": make_assertion(_other_key(), did, aud),
        "kid of another device": make_assertion(key, other_user.device_id, aud, iss=did, sub=did),
        "issuer is not the device": make_assertion(key, did, aud, iss="someone-else"),
        "subject is not the device": make_assertion(key, did, aud, sub=user.user_id),
        "no jti": make_assertion(key, did, aud, jti=None),
        "no exp": make_assertion(key, did, aud, exp=None),
        "no iat": make_assertion(key, did, aud, iat=None),
        "unknown device": make_assertion(
            key, "no-such-device", aud, iss="no-such-device", sub="no-such-device"
        ),
        "an access token": user.access_token,
        "no kid": make_assertion(key, did, aud, headers={"kid": None}),
        "garbage": "a.b.c",
    }
    for why, assertion in bad.items():
        before = db_snapshot(backend)
        resp = renew(backend, assertion)
        assert resp.status_code == 401, (why, resp.text)
        assert resp.json()["code"] == "unauthorized", why
        assert resp.json()["error"] == "invalid_grant", why
        assert db_snapshot(backend) == before, why
    # Nothing above burned the device: a good assertion still works.
    assert renew(backend, make_assertion(key, did, aud)).status_code == 200


def test_malformed_token_requests_are_invalid(backend: Backend, user: SignedIn) -> None:
    assertion = make_assertion(user.device_key, user.device_id, token_url(backend))
    with backend.client() as anon:
        wrong_grant = anon.post(
            "/v1/auth/token", data={"grant_type": "password", "assertion": assertion}
        )
        no_assertion = anon.post(
            "/v1/auth/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}
        )
        plain_text = anon.post(
            "/v1/auth/token", content=b"hello", headers={"content-type": "text/plain"}
        )
    for resp in (wrong_grant, no_assertion, plain_text):
        assert resp.status_code == 422, resp.text
        assert resp.json()["code"] == "invalid_request"
    # The assertion was never consumed by those requests.
    assert renew(backend, assertion).status_code == 200


def test_a_signed_out_device_cannot_renew(backend: Backend) -> None:
    key, body = login_device(backend, *_new_user(backend))
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    with backend.client(headers=headers) as c:
        assert c.delete(f"/v1/auth/devices/{body['device_id']}").status_code == 204
    resp = renew(backend, make_assertion(key, body["device_id"], token_url(backend)))
    assert resp.status_code == 401
    assert "signed out" in resp.json()["detail"]


def _new_user(backend: Backend) -> tuple[str, str]:
    from tests.backend.conftest import create_user

    create_user(backend, "renew@example.test", "a long enough password")
    return "renew@example.test", "a long enough password"
