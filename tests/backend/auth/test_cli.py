"""`connected-accounts-backend create-user EMAIL --password-stdin`, then signing in over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from backend.auth.passwords import verify_password
from backend.auth.service import find_user
from backend.db.engine import make_engine, session_factory
from tests.backend.auth.conftest import all_db_text, login
from tests.backend.conftest import Backend

ROOT = Path(__file__).resolve().parents[3]


def create_user_cli(
    database_url: str, *args: str, password: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "create-user",
            *args,
            "--password-stdin",
            "--database-url",
            database_url,
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ},
        timeout=60,
        check=False,
    )


def test_create_user_from_the_command_line_then_sign_in(backend: Backend) -> None:
    password = "from the command line 42"
    made = create_user_cli(
        backend.settings.database_url or "", "Gina@Example.test", password=password
    )
    assert made.returncode == 0, made.stderr
    assert password not in made.stdout + made.stderr
    assert login(backend, "gina@example.test", password).status_code == 200
    assert login(backend, "gina@example.test", "another password").status_code == 401
    assert password not in all_db_text(backend)


def test_create_user_for_an_existing_email_needs_update(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    assert create_user_cli(url, "hal@example.test", password="first password").returncode == 0
    again = create_user_cli(url, "HAL@example.test", password="second password")
    assert again.returncode == 1
    assert "--update" in again.stderr
    assert _password_ok(url, "hal@example.test", "first password")

    updated = create_user_cli(url, "hal@example.test", "--update", password="second password")
    assert updated.returncode == 0, updated.stderr
    assert _password_ok(url, "hal@example.test", "second password")
    assert not _password_ok(url, "hal@example.test", "first password")


def _password_ok(url: str, email: str, password: str) -> bool:
    engine = make_engine(url)
    try:
        with session_factory(engine).begin() as session:
            user = find_user(session, email)
    finally:
        engine.dispose()
    assert user is not None
    return verify_password(user.password_hash, password)


def test_create_user_refuses_a_bad_email(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    made = create_user_cli(url, "not-an-email", password="long enough password")
    assert made.returncode == 2
    assert "not an email address" in made.stderr
