"""No plain HTTP off loopback, for `serve` and for the desktop.

Rule: issue 14 point 4 — `serve` refuses a non-loopback bind unless it is behind a TLS proxy
(`--public-url https://…`) or told `--insecure-http`, which it says loudly (log WARNING and
stderr). The desktop (command line, settings, dialog) refuses an http:// backend that is not
this computer, in plain words. 127.0.0.0/8, ::1 and localhost are this computer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from backend.transport import PlainHttpRefused, check_plain_http
from desktop.config import BackendUrlRefused, check_backend_url
from desktop.views.settings_dialog import SettingsDialog
from tests.support.backend_process import ROOT, backend_env, serving, start_serve


def _refused(args: list[str], tmp_path: Path) -> str:
    server = start_serve(args, backend_env(tmp_path / "data"))
    try:
        assert server.proc.wait(60) == 2
    finally:
        server.stop()
    return server.stderr()


def test_serve_refuses_plain_http_on_every_address(tmp_path: Path) -> None:
    err = _refused(["--host", "0.0.0.0"], tmp_path)
    assert "Refusing to serve plain HTTP" in err
    assert "--public-url https://" in err
    assert "--insecure-http" in err


def test_serve_refuses_a_plain_http_public_url_of_another_host(tmp_path: Path) -> None:
    err = _refused(["--public-url", "http://backend.example"], tmp_path)
    assert "Refusing to serve plain HTTP" in err


def test_serve_behind_a_tls_proxy_may_bind_every_address(tmp_path: Path) -> None:
    args = ["--host", "0.0.0.0", "--public-url", "https://backend.example"]
    with serving(args, backend_env(tmp_path / "data")) as server:
        port = server.url.rsplit(":", 1)[1]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
        assert "insecure" not in server.stderr().lower()


def test_insecure_http_says_loudly_what_it_means(tmp_path: Path) -> None:
    with serving(["--host", "0.0.0.0", "--insecure-http"], backend_env(tmp_path / "d")) as server:
        port = server.url.rsplit(":", 1)[1]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
        err = server.stderr()
    assert "WARNING backend.transport: --insecure-http" in err  # the log line
    assert "\nWARNING: --insecure-http" in "\n" + err  # and the plain stderr line
    assert "unencrypted" in err


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost"])
def test_serve_on_loopback_needs_no_flag(tmp_path: Path, host: str) -> None:
    with serving(["--host", host], backend_env(tmp_path / "data")) as server:
        assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765",
        "http://127.8.9.10:1",
        "http://localhost:8765",
        "http://[::1]:8765",
        "http://[::ffff:127.0.0.1]:8765",
        "https://backend.example",
        "https://10.0.0.5:8443",
    ],
)
def test_desktop_accepts_https_and_loopback_http(url: str) -> None:
    assert check_backend_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://backend.example",
        "http://10.0.0.5:8765",
        "http://[2001:db8::1]:8765",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
        "ftp://backend.example",
        "backend.example",
    ],
)
def test_desktop_refuses_plain_http_to_another_computer(url: str) -> None:
    with pytest.raises(BackendUrlRefused):
        check_backend_url(url)


def test_desktop_command_line_refuses_in_plain_words(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "desktop", "--backend", "http://backend.example", "list"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
        env={**backend_env(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "plain http:// to another computer" in done.stderr
    assert "https://" in done.stderr
    assert "Traceback" not in done.stderr


def test_settings_dialog_refuses_plain_http_to_another_computer(qtbot: QtBot) -> None:
    dialog = SettingsDialog(None)
    qtbot.addWidget(dialog)
    dialog.remote_radio.setChecked(True)
    dialog.url_edit.setText("http://backend.example")
    box = dialog.findChild(QDialogButtonBox)
    assert box is not None
    save = box.button(QDialogButtonBox.StandardButton.Save)
    with qtbot.assertNotEmitted(dialog.backend_chosen):
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert dialog.error_label.isVisibleTo(dialog)
    assert "unencrypted" in dialog.error_label.text()
    dialog.url_edit.setText("http://127.0.0.1:8765")
    with qtbot.waitSignal(dialog.backend_chosen) as chosen:
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    assert chosen.args == ["http://127.0.0.1:8765"]


@pytest.mark.parametrize(
    ("host", "public_url"),
    [
        ("127.0.0.1", None),
        ("127.3.2.1", None),
        ("::1", None),
        ("localhost", "http://localhost:8765"),
        ("0.0.0.0", "https://backend.example"),
        ("::", "https://backend.example"),
        ("192.0.2.10", "https://backend.example/base"),
    ],
)
def test_serve_rule_accepts_loopback_and_tls_proxies(host: str, public_url: str | None) -> None:
    check_plain_http(host, public_url, insecure_http=False)


@pytest.mark.parametrize(
    ("host", "public_url"),
    [
        ("0.0.0.0", None),
        ("::", None),
        ("192.0.2.10", None),
        ("backend.example", None),
        ("127.0.0.1", "http://backend.example"),
        ("0.0.0.0", "http://backend.example"),
        ("127.0.0.1", "ftp://backend.example"),
    ],
)
def test_serve_rule_refuses_plain_http_beyond_loopback(host: str, public_url: str | None) -> None:
    with pytest.raises(PlainHttpRefused):
        check_plain_http(host, public_url, insecure_http=False)
