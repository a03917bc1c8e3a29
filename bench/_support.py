"""Shared plumbing for the benchmark scripts: processes that say READY, a signed-in user,
the connect flow with a played browser, a direct OAuth code grant against Demo Ads."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.browser import play_consent

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-1"  # noqa: S105 a throwaway benchmark user's password, not a secret
EMAIL = "bench@example.test"
CLIENT_ID = "demo-desktop"
CLIENT_SECRET = "demo-secret"  # noqa: S105 (the public Demo Ads sandbox client)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def emit(result: dict[str, Any]) -> None:
    """Print the one JSON object (last stdout line)."""
    print(json.dumps(result), flush=True)


def backend_env(tmp: Path) -> dict[str, str]:
    """Environment for backend processes: fixed vault and signing keys, quiet logs."""
    from backend.auth.keys import SigningKey

    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTED_ACCOUNTS_")}
    env["CONNECTED_ACCOUNTS_VAULT_KEYS"] = "bench:" + base64.b64encode(os.urandom(32)).decode()
    env["CONNECTED_ACCOUNTS_SIGNING_KEY"] = SigningKey.generate().to_pem().decode()
    env["CONNECTED_ACCOUNTS_LOG_LEVEL"] = "WARNING"
    # The benchmarks fire hundreds of one user's report requests at once to load the backend;
    # the per-user cap on reports in flight (4 by default, backend/user_limits.py) would turn them
    # into 429s. Its slots are still taken and freed in the database on every request.
    env["CONNECTED_ACCOUNTS_REPORTS_IN_FLIGHT_PER_USER"] = "100000"
    env["CONNECTED_ACCOUNTS_DATA_DIR"] = str(tmp / "data")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _drain(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def start_ready(
    argv: list[str], env: dict[str, str], log: Path, stack: ExitStack, *, module: str = ""
) -> str:
    """Start `python -m MODULE ARGV` (default backend.cli); return the URL of `READY <url>`."""
    err = stack.enter_context(log.open("w"))
    proc = subprocess.Popen(
        [sys.executable, "-m", module or "backend.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
        env=env,
        cwd=ROOT,
    )

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    stack.callback(stop)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=_drain, args=(proc.stdout, lines), daemon=True).start()
    try:
        first = lines.get(timeout=60)
    except queue.Empty:
        raise RuntimeError(f"{argv[0]} never said READY: {log.read_text()[-2000:]}") from None
    if not first.startswith("READY "):
        raise RuntimeError(f"{argv[0]}: {first!r} {log.read_text()[-2000:]}")
    return first.split()[1]


def sandbox_toml(path: Path, people: Sequence[str] = (), max_report_days: int = 1100) -> Path:
    """A [sandbox] table with the admin API and the benchmark account on and, optionally,
    extra people."""
    text = "[sandbox]\nadmin_api = true\nbenchmark_account = true\n"
    text += f"max_report_days = {max_report_days}\n"
    if people:
        text += "users = [\n"
        text += '  {id = "user-1001", name = "Dana Demo", email = "dana@demo-ads.example"},\n'
        text += "".join(
            f'  {{id = "{p}", name = "Bench {p}", email = "{p}@x.example"}},\n' for p in people
        )
        text += "]\n"
    path.write_text(text)
    return path


def backend_toml(path: Path, sandbox: str, max_report_days: int = 1100) -> Path:
    """Provider `demo` pointed at a separately running sandbox."""
    path.write_text(
        f'[providers.demo]\npreset = "demo"\nissuer = "{sandbox}"\n'
        f'authorization_endpoint = "{sandbox}/authorize"\n'
        f'token_endpoint = "{sandbox}/token"\nrevocation_endpoint = "{sandbox}/revoke"\n'
        f"max_report_days = {max_report_days}\n"
        f'reports = {{ base_url = "{sandbox}" }}\n'
    )
    return path


def create_user(env: dict[str, str], database_url: str, config: Path) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "backend.cli", "create-user", EMAIL, "--password-stdin",
         "--database-url", database_url, "--config", str(config)],
        input=PASSWORD + "\n", capture_output=True, text=True, env=env, timeout=120,
        check=False, cwd=ROOT,
    )  # fmt: skip
    if made.returncode != 0:
        raise RuntimeError(made.stderr)


def new_device_key() -> tuple[ec.EllipticCurvePrivateKey, dict[str, str]]:
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    return key, {"kty": "EC", "crv": "P-256", "x": b64(numbers.x), "y": b64(numbers.y)}


def login(backend: str) -> dict[str, str]:
    """Sign a fresh device in; return the Authorization header."""
    _, jwk = new_device_key()
    resp = httpx.post(
        f"{backend}/v1/auth/login",
        json={"email": EMAIL, "password": PASSWORD, "device_name": "bench",
              "device_public_key": jwk},
        timeout=60,
    )  # fmt: skip
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def connect_one(backend: str, headers: dict[str, str], person: str | None = None) -> dict[str, Any]:
    """The connect flow over HTTP, with play_consent as the person's browser."""
    with httpx.Client(base_url=backend, headers=headers, timeout=60) as client:
        flow = client.post(
            "/v1/flows", json={"provider": "demo", "redirect_uri": "http://127.0.0.1:9/callback"}
        )
        flow.raise_for_status()
        location = play_consent(flow.json()["authorization_url"], user=person)
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        done = client.post(
            f"/v1/flows/{flow.json()['flow_id']}/complete",
            json={"state": query["state"], "code": query["code"], "iss": query.get("iss")},
        )
        if done.is_error:
            raise RuntimeError(f"the connect flow failed: {done.status_code} {done.text[:300]}")
        body: dict[str, Any] = done.json()
        return body


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def direct_code(sandbox: str, person: str | None = None) -> tuple[str, str, str]:
    """Authorize at Demo Ads directly: (code, verifier, redirect_uri)."""
    verifier, challenge = pkce()
    redirect_uri = "http://127.0.0.1:9/callback"
    params = {
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect_uri,
        "scope": "ads_read", "state": secrets.token_urlsafe(16),
        "code_challenge": challenge, "code_challenge_method": "S256",
    }  # fmt: skip
    location = play_consent(f"{sandbox}/authorize?{urlencode(params)}", user=person)
    code = parse_qs(urlsplit(location).query)["code"][0]
    return code, verifier, redirect_uri


def redeem(
    client: httpx.Client, sandbox: str, code: str, verifier: str, redirect_uri: str
) -> dict[str, Any]:
    """POST /token (authorization_code) the way the backend does (client_secret_basic)."""
    resp = client.post(
        f"{sandbox}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
              "code_verifier": verifier},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )  # fmt: skip
    resp.raise_for_status()
    body: dict[str, Any] = resp.json()
    return body


def tempdir(stack: ExitStack, prefix: str) -> Path:
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
