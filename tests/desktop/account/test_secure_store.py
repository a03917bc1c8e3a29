"""The secure store: only real OS keyrings, a memory fallback with a reason, never a file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from keyring.backends import fail
from keyrings.alt.file import EncryptedKeyring, PlaintextKeyring

from desktop.account.secure_store import DeviceRecord, MemoryStore, open_store
from desktop.api.secret import Secret

URL = "http://127.0.0.1:8765"
RECORD = DeviceRecord(
    device_id="dev-1",
    private_key_pem=Secret("-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"),
    access_token=Secret("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"),
    user_email="dana@example.com",
)


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


def test_refuses_keyrings_alt_plaintext_file(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    plaintext = PlaintextKeyring()
    store = open_store(plaintext)
    assert isinstance(store, MemoryStore)
    assert store.persistent is False
    assert store.reason is not None
    assert "PlaintextKeyring" in store.reason
    store.save(URL, RECORD)
    assert store.load(URL) == RECORD
    assert files_under(tmp_path) == [], "nothing may be written to a file"


def test_refuses_keyrings_alt_encrypted_file_and_fail_backend() -> None:
    # Built without __init__: it needs pycryptodome only to run, and it must never run.
    encrypted_file = EncryptedKeyring.__new__(EncryptedKeyring)
    failing = fail.Keyring()  # type: ignore[no-untyped-call]
    for backend in (encrypted_file, failing):
        store = open_store(backend)
        assert isinstance(store, MemoryStore)
        assert store.reason is not None
        assert "no system keyring" in store.reason


class Chain:
    """Like keyring's ChainerBackend: a list of backends tried in turn."""

    def __init__(self, *backends: object) -> None:
        self.backends = list(backends)


def test_chain_of_only_refused_backends_is_refused() -> None:
    failing = fail.Keyring()  # type: ignore[no-untyped-call]
    store = open_store(Chain(PlaintextKeyring(), failing))
    assert isinstance(store, MemoryStore)
    assert store.reason is not None
    assert "PlaintextKeyring, Keyring" in store.reason


class HangingSecretService:
    """Stands in for a locked collection whose unlock prompt never ends.

    Deliberately not a KeyringBackend subclass: those register themselves with keyring.
    """

    def __init__(self) -> None:
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait(30)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.release.wait(30)

    def delete_password(self, service: str, username: str) -> None:
        self.release.wait(30)


# Named like the real backend so the allow-list accepts it; only its calls hang.
HangingSecretService.__module__ = "keyring.backends.SecretService"
HangingSecretService.__name__ = "Keyring"


def test_a_keyring_that_never_answers_times_out_to_memory_with_a_reason() -> None:
    backend = HangingSecretService()
    try:
        store = open_store(backend, timeout=0.3)
        assert isinstance(store, MemoryStore)
        assert store.reason is not None
        assert "did not answer" in store.reason
    finally:
        backend.release.set()


def test_record_repr_shows_no_secret() -> None:
    text = repr(RECORD)
    assert "MIGH" not in text
    assert "eyJ" not in text


def test_memory_store_delete_forgets() -> None:
    store = MemoryStore("test")
    store.save(URL + "/", RECORD)
    assert store.load(URL) == RECORD
    store.delete(URL)
    assert store.load(URL) is None


SCRIPT = """
import json, sys
from desktop.api.secret import Secret
from desktop.account.secure_store import DeviceRecord, open_store
store = open_store()
record = DeviceRecord("dev-9", Secret("PEM-KEY"), Secret("jwt-token"), "dana@example.com")
store.save("http://127.0.0.1:1/", record)
back = store.load("http://127.0.0.1:1")
again = open_store().load("http://127.0.0.1:1")
store.delete("http://127.0.0.1:1")
print(json.dumps({
    "persistent": store.persistent, "description": store.description,
    "roundtrip": back == record and back.private_key_pem.reveal() == "PEM-KEY",
    "second_open": again == record, "after_delete": store.load("http://127.0.0.1:1") is None,
}))
"""


def test_round_trips_through_a_real_secret_service(tmp_path: Path) -> None:
    assert shutil.which("dbus-run-session"), "dbus-user-session must be installed"
    assert shutil.which("gnome-keyring-daemon"), "gnome-keyring must be installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path / "home"))
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    (tmp_path / "home").mkdir()
    shell = (
        "echo -n test-keyring-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null;"
        ' exec "$0" -c "$1"'
    )
    done = subprocess.run(
        ["dbus-run-session", "--", "sh", "-c", shell, sys.executable, SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {
        "persistent": True,
        "description": "keyring (SecretService)",
        "roundtrip": True,
        "second_open": True,
        "after_delete": True,
    }
    # The key went into the daemon's keyring file (encrypted), never a plaintext file of ours.
    for path in files_under(tmp_path):
        assert b"PEM-KEY" not in path.read_bytes(), path
