"""The command line and the desktop core against a REAL backend process and a real keyring daemon.

One backend (`python -m backend.cli serve --port 0 --embedded`, Demo Ads mounted) and one
D-Bus session with gnome-keyring serve the whole module; every CLI call is a real subprocess.
The test plays the person's browser: consent at the sandbox, then the redirect to the receiver.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from backend.sandbox.admin import admin_headers, read_token_file
from tests.support.browser import play_consent

ROOT = Path(__file__).resolve().parents[3]
EMAIL = "dana@example.com"
PASSWORD = "a long test password"


@dataclass
class Env:
    vars: dict[str, str]
    backend_url: str


def _read_line(stream: IO[str], timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("no line in time") from None


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    assert shutil.which("dbus-run-session"), "dbus-user-session must be installed"
    tmp = tmp_path_factory.mktemp("cli-backend")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "XDG_"))}
    base.pop("CONNECTED_ACCOUNTS_BACKEND", None)
    base.pop("PYTHON_KEYRING_BACKEND", None)
    for name in ("DATA", "CONFIG", "CACHE", "STATE"):
        base[f"XDG_{name}_HOME"] = str(tmp / name.lower())
    base["HOME"] = str(tmp / "home")
    (tmp / "home").mkdir()
    base["CONNECTED_ACCOUNTS_DATA_DIR"] = str(tmp / "backend-data")
    # A private session bus with an unlocked Secret Service; it lives while `cat` reads stdin.
    bus = subprocess.Popen(
        ["dbus-run-session", "--", "sh", "-c",
         "echo -n kr-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null;"
         ' echo "$DBUS_SESSION_BUS_ADDRESS"; exec cat'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=base,
    )  # fmt: skip
    assert bus.stdout is not None
    assert bus.stdin is not None
    base["DBUS_SESSION_BUS_ADDRESS"] = _read_line(bus.stdout, 30).strip()
    backend = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--port", "0", "--embedded"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=base, cwd=ROOT,
    )  # fmt: skip
    try:
        assert backend.stdout is not None
        ready = _read_line(backend.stdout, 60).split()
        assert ready[0] == "READY", ready
        created = subprocess.run(
            [sys.executable, "-m", "backend.cli", "create-user", EMAIL, "--password-stdin",
             "--update", "--embedded"],
            input=PASSWORD + "\n", capture_output=True, text=True, env=base, cwd=ROOT,
            timeout=60, check=False,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        yield Env(base, ready[1])
    finally:
        backend.terminate()
        backend.wait(10)
        bus.stdin.close()
        bus.wait(10)


def cli(env: Env, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop", "--backend", env.backend_url, *args],
        input=stdin, capture_output=True, text=True, env=env.vars, cwd=ROOT, timeout=120,
        check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def signed_in(env: Env) -> Env:
    done = cli(env, "login", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert "keyring (SecretService)" in done.stdout
    return env


def connect_demo(env: Env, *extra: str, decision: str = "allow") -> tuple[int, str, str]:
    """`connect demo --no-browser --json`, playing the browser from the printed URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop", "--backend", env.backend_url, "connect", "demo",
         "--no-browser", "--json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env.vars, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    first = json.loads(_read_line(process.stdout, 60))
    location = play_consent(first["authorization_url"], decision=decision)
    receiver = httpx.get(location, timeout=10)
    out, err = process.communicate(timeout=60)
    assert receiver.status_code == 200
    assert "code=" not in receiver.text
    # The command has ended: its receiver socket is closed, nothing answers there any more.
    with pytest.raises(httpx.ConnectError):
        httpx.get(location, timeout=10)
    return process.returncode, out, err


def test_not_signed_in_is_exit_3(env: Env) -> None:
    done = cli(env, "list")
    assert done.returncode == 3
    assert "not signed in" in done.stderr


def test_wrong_password_is_exit_3(env: Env) -> None:
    done = cli(env, "login", EMAIL, "--password-stdin", stdin="wrong password\n")
    assert done.returncode == 3
    assert "wrong password" not in done.stderr + done.stdout


def test_providers_as_json(signed_in: Env) -> None:
    providers = cli(signed_in, "providers", "--json")
    assert providers.returncode == 0, providers.stderr
    assert "demo" in [p["id"] for p in json.loads(providers.stdout)]


def test_connect_report_disconnect(signed_in: Env) -> None:
    code, out, err = connect_demo(signed_in)
    assert code == 0, err
    connection: dict[str, Any] = json.loads(out)
    assert connection["provider"] == "demo"
    assert connection["status"] == "connected"
    assert "refresh_token" not in out
    # The built-in Demo Ads keeps its 100-campaign benchmark account for bench/ (issue 18).
    assert not any("Benchmark" in a["name"] for a in connection["accounts"])
    table = cli(signed_in, "list")
    assert connection["id"][:8] in table.stdout
    assert "connected" in table.stdout

    prefix = connection["id"][:8]
    account = connection["accounts"][0]["id"]
    dates = ["--account", account, "--since", "2026-11-01", "--until", "2026-11-07"]
    as_json = cli(signed_in, "report", prefix, *dates, "--level", "campaign", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["level"] == "campaign"
    assert report["rows"]
    as_csv = cli(signed_in, "report", prefix, *dates, "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    header, *rows = as_csv.stdout.splitlines()
    assert header.split(",")[0] == "date"
    assert len(rows) == 7  # account level: one row per day
    as_table = cli(signed_in, "report", prefix, *dates)
    assert as_table.returncode == 0, as_table.stderr
    assert as_table.stdout.splitlines()[-1].startswith("Total")

    asked = cli(signed_in, "disconnect", prefix)  # stdin is not a terminal: must confirm
    assert asked.returncode == 2
    gone = cli(signed_in, "disconnect", prefix, "--yes")
    assert gone.returncode == 0, gone.stderr
    after = json.loads(cli(signed_in, "list", "--json").stdout)
    assert all(c["id"] != connection["id"] or c["status"] == "disconnected" for c in after)


def test_connect_denied_at_the_provider(signed_in: Env) -> None:
    code, _, err = connect_demo(signed_in, decision="deny")
    assert code == 6
    assert "did not allow access" in err


def test_connect_times_out_with_exit_6(signed_in: Env) -> None:
    done = cli(signed_in, "connect", "demo", "--no-browser", "--json", "--timeout", "1")
    assert done.returncode == 6
    first = json.loads(done.stdout.splitlines()[0])
    assert first["authorization_url"].startswith(signed_in.backend_url)
    assert "No answer from the browser" in done.stderr


def test_ctrl_c_while_waiting_is_exit_6(signed_in: Env) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop", "--backend", signed_in.backend_url, "connect", "demo",
         "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=signed_in.vars, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    url = _read_line(process.stdout, 60).strip()
    assert url.startswith(f"{signed_in.backend_url}/sandbox/authorize?")
    redirect_uri = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 6
    assert "Cancelled" in err
    assert "Traceback" not in err
    with pytest.raises(httpx.ConnectError):  # the receiver closed on the way out
        httpx.get(redirect_uri, timeout=5)


def test_revoked_at_the_provider_needs_reconnect_exit_4(signed_in: Env) -> None:
    code, out, err = connect_demo(signed_in)
    assert code == 0, err
    connection = json.loads(out)
    token = read_token_file(Path(signed_in.vars["CONNECTED_ACCOUNTS_DATA_DIR"]))
    revoked = httpx.post(
        f"{signed_in.backend_url}/sandbox/admin/grants/revoke",
        json={},
        headers=admin_headers(token),
    )
    assert revoked.status_code == 200, revoked.text
    account = connection["accounts"][0]["id"]
    dates = ["--since", "2026-11-01", "--until", "2026-11-02"]
    done = cli(signed_in, "report", connection["id"], "--account", account, *dates)
    assert done.returncode == 4, done.stderr
    assert "reconnect" in done.stderr.lower()


def test_unknown_connection_prefix_is_a_usage_error(signed_in: Env) -> None:
    done = cli(signed_in, "report", "zzzz", "--since", "2026-11-01", "--until", "2026-11-02")
    assert done.returncode == 2
    assert "No connection" in done.stderr


def test_logout_then_sign_in_needed(env: Env) -> None:
    login = cli(env, "login", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
    assert login.returncode == 0, login.stderr
    assert cli(env, "logout").returncode == 0
    assert cli(env, "list").returncode == 3
