"""The data folder is 0700 and every file in it 0600, whichever backend command makes them first.

Rule: issue 14 point 8 — the data folder holds the SQLite database (-wal, -shm), the vault and
signing key files: other users of the computer must not read them. A looser folder that
already exists is left alone but named in the log with the fix.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.backend_process import backend_env, run_command, serving

PASSWORD = "file-modes-password"


def _modes(folder: Path) -> dict[str, int]:
    """Every path under `folder` (itself included) → its permission bits."""
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _assert_private(folder: Path) -> None:
    modes = _modes(folder)
    assert any(name.endswith(".sqlite3") for name in modes), modes
    for name, mode in modes.items():
        want = 0o700 if (folder / name).is_dir() else 0o600
        assert mode == want, f"{name} has mode {mode:o}, not {want:o} (all: {modes})"


def _create_user(env: dict[str, str]) -> None:
    done = run_command(["create-user", "a@example.test", "--password-stdin"], env, PASSWORD)
    assert done.returncode == 0, done.stderr


def _serve(env: dict[str, str]) -> None:
    with serving([], env) as server:
        # A write, so the WAL and shared-memory files exist too.
        resp = httpx.post(f"{server.url}/v1/auth/login", json={
            "email": "nobody@example.test", "password": "wrong-password", "device_name": "x",
            "device_public_key": {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}},
            timeout=30)  # fmt: skip
        assert resp.status_code in (401, 422), resp.text


def _migrate(env: dict[str, str]) -> None:
    done = run_command(["migrate"], env)
    assert done.returncode == 0, done.stderr


def _rotate_key(env: dict[str, str]) -> None:
    done = run_command(["rotate-key"], env)
    assert done.returncode == 0, done.stderr


COMMANDS: dict[str, Callable[[dict[str, str]], None]] = {
    "serve": _serve,
    "create-user": _create_user,
    "migrate": _migrate,
    "rotate-key": _rotate_key,
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_first_command_makes_a_private_data_folder(tmp_path: Path, command: str) -> None:
    data = tmp_path / "nested" / "data"
    env = backend_env(data)
    COMMANDS[command](env)
    _assert_private(data)
    # Later commands add files (keys, WAL) with the same modes.
    for other in ("create-user", "serve"):
        if other != command:
            COMMANDS[other](env)
    _assert_private(data)


def test_set_password_first_makes_a_private_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = backend_env(data)
    done = run_command(["set-password", "a@example.test", "--password-stdin"], env, PASSWORD)
    assert done.returncode != 0  # no such user yet; the folder it made is private all the same
    assert "no user" in done.stderr.lower(), done.stderr
    _assert_private(data)


def test_looser_existing_folder_is_named_in_the_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    env = backend_env(data)
    done = run_command(["create-user", "a@example.test", "--password-stdin"], env, PASSWORD)
    assert done.returncode == 0, done.stderr
    assert "WARNING" in done.stderr
    assert f"chmod 700 {data}" in done.stderr, done.stderr
    # Left as the operator set it; the files made inside are private all the same.
    assert stat.S_IMODE(data.stat().st_mode) == 0o755
    assert stat.S_IMODE((data / "backend.sqlite3").stat().st_mode) == 0o600
