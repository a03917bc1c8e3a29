"""Where keys come from: the env var, or a 0600 key file made once even when processes race."""

from __future__ import annotations

import base64
import json
import logging
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.config import Settings
from backend.vault.crypto import KeyRing, generate_key
from backend.vault.keys import FileKeyRing, add_key_to_file, load_keyring, rotate_key


def settings_for(tmp_path: Path, vault_keys: str | None = None) -> Settings:
    return Settings(data_dir=tmp_path / "data", vault_keys=vault_keys)


def test_env_keys_win_and_first_is_active(tmp_path: Path) -> None:
    k1, k2 = generate_key(), generate_key()
    spec = f"a1:{base64.b64encode(k1).decode()},b2:{base64.b64encode(k2).decode()}"
    ring = load_keyring(settings_for(tmp_path, spec))
    assert ring.kids == ("a1", "b2")
    assert not (tmp_path / "data" / "vault-keys.json").exists()


def test_key_file_is_created_private_and_announced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ring = load_keyring(settings_for(tmp_path))
    path = tmp_path / "data" / "vault-keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = json.loads(path.read_text())["keys"][0]["key"]
    created = [
        r.getMessage() for r in caplog.records if "created the vault key file" in r.getMessage()
    ]
    assert len(created) == 1
    assert str(path) in created[0]
    assert key not in caplog.text
    # The next start reads the same keys and does not announce a new file.
    caplog.clear()
    again = load_keyring(settings_for(tmp_path))
    assert again.kids == ring.kids
    assert again.open(ring.seal("x", "a:b:c"), "a:b:c").reveal() == "x"
    assert "created the vault key file" not in caplog.text
    assert list(path.parent.glob(".*tmp")) == []


def test_world_readable_key_file_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load_keyring(settings_for(tmp_path))
    path = tmp_path / "data" / "vault-keys.json"
    path.chmod(0o644)
    caplog.set_level(logging.WARNING)
    load_keyring(settings_for(tmp_path))
    assert "chmod 600" in caplog.text


RACER = """
import sys, time, hashlib
from pathlib import Path
from backend.config import Settings
from backend.vault.keys import load_keyring
start = float(sys.argv[2])
while time.time() < start:
    pass
ring = load_keyring(Settings(data_dir=Path(sys.argv[1]), vault_keys=None))
blob = ring.seal("probe", "a:b:c")
print(ring.active_kid, blob)
"""


def test_processes_racing_to_create_the_key_file_end_with_the_same_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    start = time.time() + 3.0  # every racer is imported and spinning by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(data), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    kids = {out.split()[0] for out, _ in outputs}
    assert len(kids) == 1
    # Every process sealed with the one key that is on disk.
    ring = load_keyring(Settings(data_dir=data, vault_keys=None))
    for out, _ in outputs:
        assert ring.open(out.split()[1], "a:b:c").reveal() == "probe"
    announced = sum("created the vault key file" in err for _, err in outputs)
    assert announced <= 1
    assert len(json.loads((data / "vault-keys.json").read_text())["keys"]) == 1
    assert list(data.glob(".*tmp")) == []


def test_running_backend_notices_a_key_added_to_the_file(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    running = load_keyring(settings)
    assert isinstance(running, FileKeyRing)
    old_kid = running.active_kid
    rotated = add_key_to_file(running.path)
    assert rotated.kids == (rotated.active_kid, old_kid)
    assert stat.S_IMODE(running.path.stat().st_mode) == 0o600
    # Opening a blob sealed with the new key makes the running ring re-read the file at once.
    blob = rotated.seal("x", "a:b:c")
    assert running.open(blob, "a:b:c").reveal() == "x"
    assert running.active_kid == rotated.active_kid


def test_running_backend_seals_with_the_new_key_soon_after_rotation(tmp_path: Path) -> None:
    running = load_keyring(settings_for(tmp_path))
    assert isinstance(running, FileKeyRing)
    rotated = add_key_to_file(running.path)
    deadline = time.monotonic() + 5
    while not running.seal("x", "a:b:c").startswith(f"v1.{rotated.active_kid}."):
        assert time.monotonic() < deadline, "the running key ring never picked up the new key"
        time.sleep(0.05)


def test_rotate_key_with_env_keys_explains_the_two_steps(tmp_path: Path) -> None:
    spec = "only:" + base64.b64encode(generate_key()).decode()
    message = rotate_key(settings_for(tmp_path, spec), sessions=None)  # type: ignore[arg-type]
    assert "CONNECTED_ACCOUNTS_VAULT_KEYS=" in message
    assert spec.split(":")[1] not in message  # the current key is not echoed
    new_entry = message.split("CONNECTED_ACCOUNTS_VAULT_KEYS=")[1].split(",")[0]
    assert KeyRing.parse(new_entry).active_kid != "only"
