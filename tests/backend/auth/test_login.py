"""POST /v1/auth/login over a real server on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import jwt
import pytest

from tests.backend.auth.conftest import all_db_text, db_snapshot, login
from tests.backend.conftest import Backend, BackendFactory, create_user, new_device_key

PASSWORD = "correct horse battery staple"
WRONG = "The email or password is wrong."


def test_login_returns_a_short_lived_access_token_and_device(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    create_user(backend, "Ann@Example.TEST", PASSWORD)
    caplog.set_level(logging.DEBUG)
    resp = login(backend, "  ANN@example.test ", PASSWORD, device_name="Ann's laptop")
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "device_id", "user"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["user"]["email"] == "ann@example.test"

    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "ES256"
    assert header["typ"] == "at+jwt"
    claims = jwt.decode(
        body["access_token"],
        backend.state.signing_key.public_key,
        algorithms=["ES256"],
        audience="connected-accounts-api",
        issuer="connected-accounts-backend",
    )
    assert claims["sub"] == body["user"]["id"]
    assert claims["did"] == body["device_id"]
    assert claims["exp"] - claims["iat"] <= 900
    assert abs(claims["iat"] - time.time()) < 30
    assert claims["jti"]

    with backend.client(headers={"Authorization": f"Bearer {body['access_token']}"}) as c:
        devices = c.get("/v1/auth/devices")
    assert devices.status_code == 200
    assert [(d["id"], d["name"], d["current"]) for d in devices.json()] == [
        (body["device_id"], "Ann's laptop", True)
    ]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in logged
    assert body["access_token"] not in logged


def test_wrong_password_and_unknown_email_get_the_same_401(backend: Backend) -> None:
    create_user(backend, "bob@example.test", PASSWORD)
    before = db_snapshot(backend)
    wrong_password = login(backend, "bob@example.test", "not the password")
    unknown_email = login(backend, "nobody@example.test", PASSWORD)
    for resp in (wrong_password, unknown_email):
        assert resp.status_code == 401
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.headers["www-authenticate"] == "Bearer"
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.json()["code"] == "unauthorized"
    assert wrong_password.json()["detail"] == WRONG
    after = db_snapshot(backend)
    assert after["devices"] == before["devices"] == []
    assert after["users"] == before["users"]


def test_repeated_failures_for_one_email_are_slowed_down_across_processes(
    backend_factory: BackendFactory,
) -> None:
    # A 3 s first lock: long enough that a slow machine still asks while it holds.
    first = backend_factory(sandbox=False, login_throttle_base_s=3.0)
    second = backend_factory(sandbox=False, login_throttle_base_s=3.0)
    create_user(first, "carol@example.test", PASSWORD)
    # Five free failures, then each further one locks the email for a doubling delay.
    for i in range(6):
        resp = login(first if i % 2 else second, "carol@example.test", f"guess {i}")
        assert resp.status_code == 401, resp.text
    locked = login(second, "carol@example.test", PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["code"] == "rate_limited"
    assert int(locked.headers["retry-after"]) >= 1
    # Another email from the same address is not locked by carol's failures.
    assert login(first, "dave@example.test", "whatever1").status_code == 401

    deadline = time.monotonic() + 20
    while (resp := login(first, "carol@example.test", PASSWORD)).status_code == 429:
        assert time.monotonic() < deadline, "the lock never ended"
        time.sleep(0.1)
    assert resp.status_code == 200, resp.text
    # A success forgets the email's failures: five more wrong guesses are plain 401s.
    for i in range(5):
        assert login(first, "carol@example.test", f"again {i}").status_code == 401


def test_repeated_failures_from_one_address_are_slowed_down(
    backend_factory: BackendFactory,
) -> None:
    backend = backend_factory(sandbox=False, login_throttle_base_s=3.0)  # outlasts a slow request
    for i in range(21):
        assert login(backend, f"probe{i}@example.test", PASSWORD).status_code == 401
    resp = login(backend, "probe-next@example.test", PASSWORD)
    assert resp.status_code == 429
    assert resp.json()["code"] == "rate_limited"
    assert "retry-after" in resp.headers


BAD_KEYS: list[tuple[Callable[[dict[str, str]], dict[str, str]], str]] = [
    (lambda jwk: {**jwk, "d": jwk["x"]}, "private"),
    (lambda jwk: {**jwk, "crv": "P-384"}, "P-256"),
    (lambda jwk: {**jwk, "kty": "RSA"}, "P-256"),
    (lambda jwk: {**jwk, "y": jwk["x"]}, "curve"),
    (lambda jwk: {**jwk, "x": jwk["x"][:-4]}, "32 bytes"),
    (lambda jwk: {"kty": "oct", "k": "c2VjcmV0"}, "private"),
]


def test_login_rejects_a_device_key_that_is_not_a_public_p256_key(backend: Backend) -> None:
    create_user(backend, "erin@example.test", PASSWORD)
    for mutate, why in BAD_KEYS:
        _, jwk = new_device_key()
        resp = login(backend, "erin@example.test", PASSWORD, jwk=mutate(jwk))
        assert resp.status_code == 422, why
        assert resp.json()["code"] == "invalid_request"
        assert why in resp.json()["detail"]
    assert db_snapshot(backend)["devices"] == []


def test_passwords_are_stored_only_as_argon2id_hashes(backend: Backend) -> None:
    create_user(backend, "frank@example.test", PASSWORD)
    assert login(backend, "frank@example.test", PASSWORD).status_code == 200
    assert login(backend, "frank@example.test", PASSWORD + "x").status_code == 401
    stored = all_db_text(backend)
    assert "$argon2id$" in stored
    assert PASSWORD not in stored
    url = backend.settings.database_url or ""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        raw = b""
        for suffix in ("", "-wal"):
            try:
                with open(path + suffix, "rb") as fh:
                    raw += fh.read()
            except FileNotFoundError:
                continue
        assert b"$argon2id$" in raw
        assert PASSWORD.encode() not in raw
