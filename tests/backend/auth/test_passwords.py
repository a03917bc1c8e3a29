"""argon2id password hashing: memory-hard defaults, constant-time verification, rehash."""

from __future__ import annotations

import pytest

from backend.auth import passwords


def test_production_defaults_are_memory_hard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(passwords.TIME_COST_ENV, raising=False)
    monkeypatch.delenv(passwords.MEMORY_KIB_ENV, raising=False)
    hasher = passwords._hasher()
    assert hasher.time_cost == 3
    assert hasher.memory_cost == 64 * 1024  # KiB: 64 MiB
    assert hasher.type.name == "ID"


def test_hash_and_verify() -> None:
    stored = passwords.hash_password("s3cret password")
    assert stored.startswith("$argon2id$v=19$")
    assert "s3cret" not in stored
    assert stored != passwords.hash_password("s3cret password")  # fresh salt
    assert passwords.verify_password(stored, "s3cret password")
    assert not passwords.verify_password(stored, "s3cret passwore")
    assert not passwords.verify_password("not a hash", "s3cret password")
    assert not passwords.dummy_verify("s3cret password")


def test_hashes_made_with_other_parameters_need_a_rehash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(passwords.MEMORY_KIB_ENV, "128")
    old = passwords.hash_password("s3cret password")
    monkeypatch.setenv(passwords.MEMORY_KIB_ENV, "256")
    assert passwords.needs_rehash(old)
    assert passwords.verify_password(old, "s3cret password")  # still verifies
    assert not passwords.needs_rehash(passwords.hash_password("s3cret password"))


def test_an_overlong_password_is_refused_without_hashing() -> None:
    with pytest.raises(ValueError, match="at most"):
        passwords.hash_password("x" * (passwords.MAX_PASSWORD_CHARS + 1))
    stored = passwords.hash_password("x" * 8)
    assert not passwords.verify_password(stored, "x" * (passwords.MAX_PASSWORD_CHARS + 1))
