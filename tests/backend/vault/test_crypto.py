"""The key ring: AES-256-GCM with fresh nonces, associated data per row and purpose, fail closed."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.secret import Secret
from backend.vault.crypto import (
    KeyRing,
    VaultDecryptError,
    VaultError,
    VaultKeyMissing,
    aad,
    blob_kid,
    generate_key,
)

OLD = ("old", b"\x01" * 32)
NEW = ("new", b"\x02" * 32)


def test_round_trip_gives_back_the_secret() -> None:
    ring = KeyRing([OLD])
    blob = ring.seal("rt-abc", aad("connection", "c1", "refresh_token"))
    assert ring.open(blob, aad("connection", "c1", "refresh_token")).reveal() == "rt-abc"
    assert "rt-abc" not in blob
    assert blob.startswith("v1.old.")
    assert blob.isascii()


@given(st.text(max_size=300))
def test_round_trip_any_text(text: str) -> None:
    ring = KeyRing([OLD])
    assert ring.open(ring.seal(Secret(text), "x:y:z"), "x:y:z").reveal() == text


def test_ciphertext_copied_to_another_row_does_not_open() -> None:
    ring = KeyRing([OLD])
    blob = ring.seal("rt-of-c1", aad("connection", "c1", "refresh_token"))
    with pytest.raises(VaultDecryptError) as err:
        ring.open(blob, aad("connection", "c2", "refresh_token"))
    assert "rt-of-c1" not in str(err.value)


def test_ciphertext_copied_to_another_purpose_does_not_open() -> None:
    ring = KeyRing([OLD])
    blob = ring.seal("at", aad("connection", "c1", "access_token"))
    with pytest.raises(VaultDecryptError):
        ring.open(blob, aad("connection", "c1", "refresh_token"))


@pytest.mark.parametrize("position", [0, 5, 17, -1])
def test_tampered_ciphertext_fails_closed(position: int) -> None:
    ring = KeyRing([OLD])
    blob = ring.seal("secret", "a:b:c")
    head, body = blob.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[position] ^= 0x01
    forged = head + "." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(VaultDecryptError):
        ring.open(forged, "a:b:c")


@pytest.mark.parametrize(
    "blob", ["", "v1.old.", "v1.old.AAAA", "v2.old.AAAA", "plain-token", "v1..x"]
)
def test_malformed_blobs_fail_closed(blob: str) -> None:
    with pytest.raises(VaultDecryptError):
        KeyRing([OLD]).open(blob, "a:b:c")


def test_truncated_ciphertext_fails_closed() -> None:
    ring = KeyRing([OLD])
    blob = ring.seal("secret", "a:b:c")
    with pytest.raises(VaultDecryptError):
        ring.open(blob[:-4], "a:b:c")


def test_key_missing_from_the_ring_gives_the_clear_error() -> None:
    blob = KeyRing([NEW, OLD]).seal("secret", "a:b:c")
    with pytest.raises(VaultKeyMissing) as err:
        KeyRing([OLD]).open(blob, "a:b:c")
    assert str(err.value) == (
        "The vault key 'new' is not configured; the ciphertexts sealed with it cannot be read."
    )
    assert err.value.kid == "new"


def test_every_seal_uses_a_fresh_nonce() -> None:
    ring = KeyRing([OLD])
    blobs = [ring.seal("same", "a:b:c") for _ in range(500)]
    nonces = {base64.urlsafe_b64decode(b.split(".")[2] + "==")[:12] for b in blobs}
    assert len(nonces) == 500


def test_first_key_seals_and_every_key_opens() -> None:
    old_blob = KeyRing([OLD]).seal("s", "a:b:c")
    ring = KeyRing([NEW, OLD])
    assert blob_kid(ring.seal("s", "a:b:c")) == "new"
    assert ring.open(old_blob, "a:b:c").reveal() == "s"
    resealed = ring.reseal(old_blob, "a:b:c")
    assert blob_kid(resealed) == "new"
    assert KeyRing([NEW]).open(resealed, "a:b:c").reveal() == "s"


def test_env_spec_parses_both_base64_alphabets() -> None:
    key1, key2 = generate_key(), generate_key()
    spec = (
        f"k1:{base64.b64encode(key1).decode()}, "
        f"k2:{base64.urlsafe_b64encode(key2).decode().rstrip('=')}"
    )
    ring = KeyRing.parse(spec)
    assert ring.kids == ("k1", "k2")
    assert KeyRing([("k1", key1)]).open(ring.seal("x", "a:b:c"), "a:b:c").reveal() == "x"


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "nokey",
        "k1:",
        "k1:" + base64.b64encode(b"short").decode(),
        "bad.id:" + "A" * 44,
        "k1:%%%%",
    ],
)
def test_bad_env_spec_is_refused_without_echoing_keys(spec: str) -> None:
    with pytest.raises(VaultError) as err:
        KeyRing.parse(spec)
    if spec.startswith("k1:") and len(spec) > 5:
        assert spec[3:] not in str(err.value)


def test_duplicate_key_ids_are_refused() -> None:
    with pytest.raises(VaultError, match="twice"):
        KeyRing([OLD, ("old", b"\x03" * 32)])


def test_repr_shows_key_ids_never_key_bytes() -> None:
    key = generate_key()
    ring = KeyRing([("k1", key)])
    text = repr(ring)
    assert "k1" in text
    assert base64.b64encode(key).decode() not in text
    assert repr(ring.open(ring.seal("tok", "a:b:c"), "a:b:c")) == "Secret(<redacted>)"


def test_aad_binds_kind_row_and_purpose() -> None:
    assert aad("connection", "3f", "refresh_token") == "connection:3f:refresh_token"
    with pytest.raises(VaultError):
        aad("connection", "", "refresh_token")
