"""The local companion service with real processes: the CLI as subprocesses, the service
detached, a real gnome-keyring on a private D-Bus session, per-test runtime and data folders.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.localsvc import ROOT, LocalHome, pid_gone, read_line, wait_until


@pytest.fixture
def home(tmp_path: Path) -> Iterator[LocalHome]:
    h = LocalHome(tmp_path)
    yield h
    h.close()


def _keyring_get(home: LocalHome, service: str, user: str) -> str | None:
    done = home.python(f"import keyring; print(keyring.get_password({service!r}, {user!r}) or '')")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() or None


def test_first_command_starts_one_service_that_later_commands_reuse(home: LocalHome) -> None:
    assert not home.status()["running"]
    first = home.cli("list", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == []
    status = home.status()
    assert status["running"] is True
    assert status["url"].startswith("http://127.0.0.1:")
    assert status["idle_timeout"] == 600
    assert status["vault_key"]["kind"] == "keyring"
    pid = status["pid"]
    assert home.service_pids() == [pid]

    # The device key is in the keyring, under this data folder's key; no password anywhere.
    stored = _keyring_get(home, "connected-accounts", f"local-service {home.data.resolve()}")
    assert stored is not None
    device_id = json.loads(stored)["device_id"]
    with sqlite3.connect(home.data / "backend.sqlite3") as db:
        users = db.execute("SELECT email, password_hash FROM users").fetchall()
    assert users == [("local@this-device", "!")]

    again = home.cli("providers", "--json")
    assert again.returncode == 0, again.stderr
    assert "demo" in [p["id"] for p in json.loads(again.stdout)]
    assert home.status()["pid"] == pid  # the same service
    stored_again = _keyring_get(home, "connected-accounts", f"local-service {home.data.resolve()}")
    assert stored_again is not None
    assert json.loads(stored_again)["device_id"] == device_id  # signed in silently
    with sqlite3.connect(home.data / "backend.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM devices").fetchone() == (1,)


def test_two_clients_started_together_start_exactly_one_service(home: LocalHome) -> None:
    """Both wait for one "go" file, then run `list` at once: they race for the start lock."""
    go = home.tmp / "go"
    code = (
        "import os, sys, time\n"
        "from desktop.__main__ import main\n"
        "open(sys.argv[1], 'w').close()\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.001)\n"
        "sys.exit(main(['list', '--json']))\n"
    )
    ready = [home.tmp / f"ready-{n}" for n in range(2)]
    clients = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(flag)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=home.env,
            cwd=ROOT,
        )  # fmt: skip
        for flag in ready
    ]
    wait_until(lambda: all(f.exists() for f in ready), 60, "both clients are ready")
    go.touch()  # both leave their 1 ms poll within about a millisecond of each other
    for client in clients:
        out, err = client.communicate(timeout=120)
        assert client.returncode == 0, err
        assert json.loads(out) == []
    assert len(home.service_pids()) == 1
    log = (home.data / "service.log").read_text()
    assert log.count("local service listening on") == 1
    assert home.status()["pid"] == home.service_pids()[0]


def test_service_stop_leaves_no_process(home: LocalHome) -> None:
    started = home.cli("service", "start")
    assert started.returncode == 0, started.stderr
    pid = home.status()["pid"]
    assert home.cli("service", "start").returncode == 0  # already running: the same one
    assert home.service_pids() == [pid]

    stopped = home.cli("service", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"process {pid}" in stopped.stdout
    assert pid_gone(pid)
    assert home.service_pids() == []
    assert home.runtime_file() is None
    assert not (home.runtime / "local-secret").exists()
    status = home.cli("service", "status")
    assert status.returncode == 1
    assert "not running" in status.stdout
    assert "not running" in home.cli("service", "stop").stdout


def test_idle_service_stops_by_itself_and_the_next_command_starts_another(
    tmp_path: Path,
) -> None:
    home = LocalHome(tmp_path, idle_timeout=2)
    try:
        started = home.cli("service", "start")
        assert started.returncode == 0, started.stderr
        pid = int(started.stdout.rsplit("(process ", 1)[1].split(")")[0])
        wait_until(lambda: pid_gone(pid), 60, "the idle service stopped")
        wait_until(lambda: home.runtime_file() is None, 10, "it removed its runtime file")
        log = (home.data / "service.log").read_text()
        assert "no client for 2 s: the local service stops" in log
        again = home.cli("list", "--json")
        assert again.returncode == 0, again.stderr
        log = (home.data / "service.log").read_text()
        assert log.count("local service listening on") == 2
    finally:
        home.close()


def test_stale_runtime_file_naming_another_programs_port_is_replaced(home: LocalHome) -> None:
    """Another program holds the port the runtime file names (its pid is alive, too): the
    client must not trust it, must not send it the secret, and must start a real service."""
    other = subprocess.Popen(
        [sys.executable, "-u", "-c",
         "import http.server, sys\n"
         "class H(http.server.BaseHTTPRequestHandler):\n"
         "    def do_GET(self):\n"
         "        print('GET', self.path, flush=True)\n"
         "        self.send_response(404); self.end_headers()\n"
         "    do_POST = do_GET\n"
         "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
         "print(s.server_address[1], flush=True)\n"
         "s.serve_forever()\n"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert other.stdout is not None
        port = int(read_line(other.stdout, 30))
        home.runtime.mkdir(mode=0o700)
        stale = {"url": f"http://127.0.0.1:{port}", "pid": other.pid, "instance": "x" * 16,
                 "started_at": time.time(), "idle_timeout": 600}  # fmt: skip
        for name, body in (("service.json", json.dumps(stale)), ("local-secret", "stale-secret")):
            fd = os.open(home.runtime / name, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, body.encode())
            os.close(fd)

        done = home.cli("list", "--json")
        assert done.returncode == 0, done.stderr
        fresh = home.runtime_file()
        assert fresh is not None
        assert fresh["url"] != stale["url"]
        assert fresh["pid"] != other.pid
        assert home.service_pids() == [fresh["pid"]]
        assert other.poll() is None  # never touched the other program
        other.terminate()
        seen, _ = other.communicate(timeout=10)
        assert "/v1/local/hello?nonce=" in seen  # it was asked who it is ...
        assert "/v1/auth/local" not in seen  # ... and never given anything
        assert "stale-secret" not in seen
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()


def test_stale_runtime_file_of_a_dead_process_is_replaced(home: LocalHome) -> None:
    assert home.cli("service", "start").returncode == 0
    first = home.runtime_file()
    assert first is not None
    os.kill(first["pid"], 9)  # a crash: the runtime file stays behind
    wait_until(lambda: pid_gone(first["pid"]), 30)
    assert home.runtime_file() == first
    done = home.cli("list", "--json")
    assert done.returncode == 0, done.stderr
    second = home.runtime_file()
    assert second is not None
    assert second["pid"] != first["pid"]
    assert home.service_pids() == [second["pid"]]


def test_every_file_the_service_writes_is_private(home: LocalHome) -> None:
    assert home.cli("list").returncode == 0
    assert home.cli("service", "status").returncode == 0
    folders = [home.runtime, home.data]
    files = [p for folder in folders for p in folder.rglob("*")]
    names = {p.name for p in files}
    assert {"service.json", "local-secret", "start.lock", "service.lock"} <= names
    assert {"backend.sqlite3", "backend.sqlite3-wal", "service.log", "signing-key.pem"} <= names
    assert "vault-keys.json" not in names  # the vault key is in the keyring
    for path in [*folders, *files]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode & 0o077 == 0, f"{path} has mode {mode:o}"
        assert path.lstat().st_uid == os.getuid()


def test_local_sign_in_needs_the_runtime_secret(home: LocalHome) -> None:
    assert home.cli("service", "start").returncode == 0
    url = home.status()["url"]
    jwk = {"kty": "EC", "crv": "P-256",
           "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
           "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}  # fmt: skip
    body = {"secret": "not-the-secret", "device_name": "x", "device_public_key": jwk}
    refused = httpx.post(f"{url}/v1/auth/local", json=body, timeout=30)
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthorized"
    assert "not-the-secret" not in refused.text
    # The local user has no password: no password signs it in.
    login = {"email": "local@this-device", "password": "anything at all", "device_name": "x",
             "device_public_key": jwk}  # fmt: skip
    assert httpx.post(f"{url}/v1/auth/login", json=login, timeout=60).status_code == 401
    secret = (home.runtime / "local-secret").read_text().strip()
    body["secret"] = secret
    accepted = httpx.post(f"{url}/v1/auth/local", json=body, timeout=30)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["user"]["email"] == "local@this-device"
    assert secret not in accepted.text


def test_an_existing_vault_key_file_moves_into_the_keyring_once(home: LocalHome) -> None:
    made = home.python(
        "from backend.config import Settings\n"
        "from backend.vault.keys import load_keyring\n"
        "ring = load_keyring(Settings())\n"
        "print(ring.seal('a secret sealed before the move', 'connection:c1:refresh_token'))\n"
    )
    assert made.returncode == 0, made.stderr
    blob = made.stdout.strip().splitlines()[-1]
    key_file = home.data / "vault-keys.json"
    kids = [k["kid"] for k in json.loads(key_file.read_text())["keys"]]

    assert home.cli("service", "start").returncode == 0
    assert not key_file.exists()
    held = _keyring_get(home, "connected-accounts-backend", f"vault-keys {home.data.resolve()}")
    assert held is not None
    assert [k["kid"] for k in json.loads(held)["keys"]] == kids
    assert "moved the vault key file" in (home.data / "service.log").read_text()
    opened = home.python(
        "from backend.config import Settings\n"
        "from backend.vault.keys import load_keyring\n"
        f"print(load_keyring(Settings()).open({blob!r}, 'connection:c1:refresh_token').reveal())\n"
    )
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip() == "a secret sealed before the move"
    # A restart finds it in the keyring and makes no new file.
    assert home.cli("service", "stop").returncode == 0
    assert home.cli("service", "start").returncode == 0
    assert not key_file.exists()


def test_without_a_secret_service_the_key_file_stays_and_status_says_so(tmp_path: Path) -> None:
    home = LocalHome(tmp_path, keyring=False)
    try:
        done = home.cli("list", "--json")
        assert done.returncode == 0, done.stderr
        assert "memory only" in done.stderr or done.stderr == ""
        status = home.status()
        assert status["vault_key"]["kind"] == "file"
        assert status["vault_key"]["where"] == str(home.data / "vault-keys.json")
        assert status["vault_key"]["reason"]
        key_file = home.data / "vault-keys.json"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        words = home.cli("service", "status")
        assert "no system keyring" in words.stdout
    finally:
        home.close()


def test_a_service_that_cannot_start_says_why(home: LocalHome) -> None:
    home.env["CONNECTED_ACCOUNTS_DATABASE_URL"] = "nosuchdb://nowhere"
    done = home.cli("list")
    assert done.returncode == 5
    assert done.stderr.startswith("The local service did not start.")
    assert "service.log" in done.stderr
    assert "Traceback" not in done.stderr.splitlines()[0]
    assert home.service_pids() == []


def test_the_stored_sign_in_renews_by_jwt_bearer_like_a_remote_one(tmp_path: Path) -> None:
    home = LocalHome(tmp_path)
    home.env["CONNECTED_ACCOUNTS_ACCESS_TOKEN_TTL_S"] = "2"
    key = f"local-service {home.data.resolve()}"
    try:
        assert home.cli("list").returncode == 0
        stored = _keyring_get(home, "connected-accounts", key)
        assert stored is not None
        first = json.loads(stored)
        wait_until(lambda: _expired(first["access_token"]), 30, "the access token expired")
        again = home.cli("list", "--json")
        assert again.returncode == 0, again.stderr
        renewed = json.loads(_keyring_get(home, "connected-accounts", key) or "{}")
        assert renewed["device_id"] == first["device_id"]  # the same device, no new sign-in
        assert renewed["access_token"] != first["access_token"]
        log = (home.data / "service.log").read_text()
        assert log.count("local user signed in a new device") == 1
    finally:
        home.close()


def _expired(token: str) -> bool:
    import jwt

    return float(jwt.decode(token, options={"verify_signature": False})["exp"]) < time.time()


def test_a_client_follows_the_service_to_its_new_address_after_it_stopped(
    home: LocalHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window outlives the service (idle stop, `service stop`): its next call starts it again."""
    from desktop.account import localsvc
    from desktop.account.local_backend import LocalBackend
    from desktop.account.secure_store import MemoryStore
    from desktop.api.client import ApiClient

    for name in ("XDG_RUNTIME_DIR", "CONNECTED_ACCOUNTS_DATA_DIR"):
        monkeypatch.setenv(name, home.env[name])
    local = LocalBackend(store=MemoryStore())
    url = local.start()
    client = ApiClient(url, local.session, rebase=local.rebase, loopback=True)
    try:
        assert client.connections() == []
        stopped = localsvc.stop()
        assert stopped is not None
        assert pid_gone(stopped.info.pid)
        assert client.connections() == []  # refused, found (started) again, retried once
        assert client.base_url != url
        assert home.service_pids() == [home.status()["pid"]]
    finally:
        client.close()
        local.stop()


def test_hello_proves_the_service_and_tells_details_only_to_the_secret_holder(
    home: LocalHome,
) -> None:
    from backend.localsvc.runtime import client_proof, proof_matches

    assert home.cli("service", "start").returncode == 0
    info = home.runtime_file()
    assert info is not None
    secret = (home.runtime / "local-secret").read_bytes().strip()
    nonce = "n" * 32
    anyone = httpx.get(f"{info['url']}/v1/local/hello", params={"nonce": nonce}, timeout=30)
    assert anyone.status_code == 200
    answer = anyone.json()
    assert set(answer) == {"service", "pid", "instance", "proof"}
    assert proof_matches(secret, nonce, answer["proof"])
    assert not proof_matches(b"another secret", nonce, answer["proof"])
    ours = httpx.get(
        f"{info['url']}/v1/local/hello", params={"nonce": nonce},
        headers={"X-Client-Proof": client_proof(secret, nonce)}, timeout=30,
    )  # fmt: skip
    assert ours.json()["vault_key"]["kind"] == "keyring"
    assert ours.json()["idle_timeout"] == 600
    assert secret.decode() not in anyone.text + ours.text


def test_rotate_key_adds_the_new_key_to_the_keyring_item(home: LocalHome) -> None:
    assert home.cli("service", "start").returncode == 0
    item = f"vault-keys {home.data.resolve()}"
    before = [
        k["kid"]
        for k in json.loads(_keyring_get(home, "connected-accounts-backend", item) or "")["keys"]
    ]
    rotated = subprocess.run(
        [sys.executable, "-m", "backend.cli", "rotate-key"],
        capture_output=True, text=True, env=home.env, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    after = [
        k["kid"]
        for k in json.loads(_keyring_get(home, "connected-accounts-backend", item) or "")["keys"]
    ]
    assert after[1:] == before
    assert after[0] not in before
    assert "from the Secret Service" in rotated.stdout
    assert not (home.data / "vault-keys.json").exists()
