"""`connected-accounts-backend create-user EMAIL --password-stdin`, then signing in over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
    url = backend.settings.database_url or ""
    password = "from the command line 42"
    made = create_user_cli(url, "Gina@Example.test", password=password)
    assert made.returncode == 0, made.stderr
    assert password not in made.stdout + made.stderr
    assert login(backend, "gina@example.test", password).status_code == 200
    assert password not in all_db_text(backend)

    again = create_user_cli(url, "gina@example.test", password="another password")
    assert again.returncode == 1
    assert "--update" in again.stderr
    assert login(backend, "gina@example.test", "another password").status_code == 401

    updated = create_user_cli(url, "gina@example.test", "--update", password="another password")
    assert updated.returncode == 0, updated.stderr
    assert login(backend, "gina@example.test", "another password").status_code == 200
    assert login(backend, "gina@example.test", password).status_code == 401


def test_create_user_refuses_a_bad_email(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    made = create_user_cli(url, "not-an-email", password="long enough password")
    assert made.returncode == 2
    assert "not an email address" in made.stderr
