"""The backend signing key: environment, configured file, or a key file made once (0600)."""

from __future__ import annotations

import logging
import stat
import threading
from pathlib import Path

import pytest

from backend.auth.keys import ENV_VAR, KEY_FILE_NAME, SigningKey, load_signing_key
from backend.config import Settings


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_first_start_creates_a_private_key_file_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="backend.auth.keys")
    settings = Settings(data_dir=tmp_path / "data")
    key = load_signing_key(settings)
    path = tmp_path / "data" / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "created a new signing key file" in caplog.text
    pem = path.read_text()
    assert "PRIVATE KEY" in pem
    body = "".join(pem.strip().splitlines()[1:-1])
    assert body[:40] not in caplog.text
    assert load_signing_key(settings).kid == key.kid
    assert "created" not in caplog.text.split("created", 1)[1]  # said once, not twice


def test_two_processes_starting_together_end_up_with_one_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    barrier = threading.Barrier(8)
    kids: list[str] = []

    def start() -> None:
        barrier.wait()
        kids.append(load_signing_key(settings).kid)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(kids) == 8
    assert len(set(kids)) == 1
    assert [p.name for p in (tmp_path / "data").iterdir()] == [KEY_FILE_NAME]


def test_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = SigningKey.generate()
    monkeypatch.setenv(ENV_VAR, key.to_pem().decode())
    loaded = load_signing_key(Settings(data_dir=tmp_path / "data"))
    assert loaded.kid == key.kid
    assert not (tmp_path / "data" / KEY_FILE_NAME).exists()


def test_a_configured_key_file_is_used(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = tmp_path / "mine.pem"
    path.write_bytes(key.to_pem())
    path.chmod(0o600)
    assert load_signing_key(Settings(data_dir=tmp_path, signing_key_file=path)).kid == key.kid


def test_a_missing_configured_key_file_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    path = tmp_path / "missing.pem"
    with pytest.raises(ValueError, match="does not exist"):
        load_signing_key(Settings(data_dir=tmp_path, signing_key_file=path))
    assert not path.exists()


def test_a_bad_key_is_reported_without_its_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secretish = "-----BEGIN PRIVATE KEY-----\nTOPSECRETTOPSECRET\n-----END PRIVATE KEY-----\n"
    monkeypatch.setenv(ENV_VAR, secretish)
    with pytest.raises(ValueError, match="not an unencrypted PEM key") as info:
        load_signing_key(Settings(data_dir=tmp_path))
    assert "TOPSECRET" not in str(info.value)


def test_the_key_never_shows_in_a_repr() -> None:
    key = SigningKey.generate()
    jwk = key.public_jwk()
    assert "d" not in jwk
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["kid"]) == ("EC", "P-256", "ES256", key.kid)
    text = repr(key)
    assert key.kid in text
    assert "PRIVATE" not in text
    assert str(key.private_key.private_numbers().private_value) not in text
