"""Command line parts that need no backend: usage errors, the desktop entry, settings, logging."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.__main__ import main
from desktop.config import (
    BACKEND_ENV,
    Settings,
    config_dir,
    load_settings,
    resolve_backend_url,
    save_settings,
)
from desktop.log import redact, setup_logging

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    return env


def cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    full_env.pop(BACKEND_ENV, None)
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        input=stdin, capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=60,
        check=False,
    )  # fmt: skip


@pytest.fixture
def no_log_handlers() -> Iterator[None]:
    """main() installs the file log; take it off again after an in-process call."""
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_connected_accounts", False):
            root.removeHandler(handler)
            handler.close()


def exit_code(*argv: str) -> int:
    try:
        return main(list(argv))
    except SystemExit as exc:  # argparse: --version and usage errors
        return int(exc.code or 0)


@pytest.mark.usefixtures("xdg", "no_log_handlers")
def test_version_and_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code("--version") == 0
    assert capsys.readouterr().out.startswith("connected-accounts ")
    assert exit_code("report", "c1", "--since", "2026-02-30", "--until", "2026-03-01") == 2
    assert "is not a date" in capsys.readouterr().err
    assert exit_code("connect") == 2
    assert exit_code("connect", "demo", "--timeout", "-1") == 2
    assert exit_code("nonsense") == 2
    assert exit_code("report", "c1", "--since", "2026-03-02", "--until", "2026-03-01") == 2
    assert "--since must be on or before --until" in capsys.readouterr().err


@pytest.mark.usefixtures("xdg", "no_log_handlers")
def test_login_without_a_backend_url_explains_the_local_mode(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    assert exit_code("login", "dana@example.com", "--password-stdin") == 2
    assert "--backend URL" in capsys.readouterr().err


def test_unreachable_backend_is_exit_5_in_plain_words(xdg: dict[str, str]) -> None:
    done = cli(
        "--backend", "http://127.0.0.1:9", "login", "d@example.com", "--password-stdin",
        env=xdg, stdin="pw\n",
    )  # fmt: skip
    assert done.returncode == 5
    assert "Cannot reach the backend at http://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


def test_install_desktop_entry_into_xdg_data_home(xdg: dict[str, str]) -> None:
    icon = ROOT / "resources" / "icons" / "connected-accounts.svg"
    assert icon.is_file(), "the app icon must exist"
    done = cli("install-desktop-entry", env=xdg)
    assert done.returncode == 0, done.stderr
    data = Path(xdg["XDG_DATA_HOME"])
    entry = data / "applications" / "connected-accounts.desktop"
    installed_icon = data / "icons" / "hicolor" / "scalable" / "apps" / "connected-accounts.svg"
    text = entry.read_text()
    assert "[Desktop Entry]" in text
    assert "Icon=connected-accounts" in text
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert "connected-accounts" in exec_line or "-m desktop" in exec_line
    assert installed_icon.read_bytes() == icon.read_bytes()


def test_settings_round_trip_atomically_and_env_overrides(
    xdg: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings() == Settings()
    assert resolve_backend_url() is None  # embedded by default
    save_settings(Settings(backend_url="https://team.example/", ui={"theme": "dark"}))
    assert load_settings() == Settings(backend_url="https://team.example/", ui={"theme": "dark"})
    assert [p.name for p in config_dir().iterdir()] == ["settings.json"]  # no temp file left
    assert resolve_backend_url() == "https://team.example"
    monkeypatch.setenv(BACKEND_ENV, "https://env.example")
    assert resolve_backend_url() == "https://env.example"
    assert resolve_backend_url("http://127.0.0.1:9/") == "http://127.0.0.1:9"
    (config_dir() / "settings.json").write_text("{not json")
    assert load_settings() == Settings()


def test_redaction_masks_tokens_codes_and_passwords() -> None:
    line = redact(
        "GET /callback?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj HTTP/1.1 "
        "Authorization: Bearer abc.def-ghi "
        '{"password": "hunter2", "refresh_token": "1//0gRt"} '
        "assertion=eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJkZXYifQ.sig_sig-sig"
    )
    for secret in ("SplxlOBeZQQYbYS6WxSbIA", "af0ifjsldkj", "abc.def-ghi", "hunter2", "1//0gRt",
                   "eyJhbGciOiJFUzI1NiJ9"):  # fmt: skip
        assert secret not in line
    assert "code=<redacted>" in line


def test_log_file_gets_masked_lines(xdg: dict[str, str]) -> None:
    setup_logging()
    try:
        logging.getLogger("desktop.test").info("redirect %s", "/callback?code=topsecret1&state=s2")
        try:
            raise ValueError("Bearer leaked-token-value")
        except ValueError:
            logging.getLogger("desktop.test").exception("failed")
        for handler in logging.getLogger().handlers:
            handler.flush()
        text = Path(xdg["XDG_STATE_HOME"]) / "connected-accounts" / "log" / "desktop.log"
        content = text.read_text()
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_connected_accounts", False):
                logging.getLogger().removeHandler(handler)
                handler.close()
    assert "code=<redacted>" in content
    assert "topsecret1" not in content
    assert "leaked-token-value" not in content
    assert "ValueError" in content


def test_settings_file_holds_no_secret_fields(xdg: dict[str, str]) -> None:
    save_settings(Settings(backend_url="https://team.example"))
    data = json.loads((config_dir() / "settings.json").read_text())
    assert set(data) == {"backend_url", "ui"}
