"""Rule (issue 14 point 9): a web page cannot change Demo Ads' state through its admin API.

The admin API takes a random token made at each start (handed to the starter through a 0600
file), answers only to a loopback `Host`, and takes only `application/json`. The attacks are
requests shaped as a browser sends them: a no-cors `fetch` and a form post from another
origin (simple requests: text/plain, form-urlencoded or multipart bodies, no custom headers),
and a DNS-rebound page whose requests carry a foreign `Host`. Each is also played by real
headless Chromium. After every attack the grant must still stand.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.sandbox.admin import admin_headers, read_token_file
from backend.sandbox.app import create_sandbox_app
from backend.sandbox.config import SandboxConfig
from tests.sandbox.conftest import Clock, Sandbox
from tests.support.servers import serve

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """The sandbox app behind a recorder of every admin request that reached it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.admin_hits: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/admin"):
            self.admin_hits.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


@pytest.fixture
def world() -> Iterator[tuple[Sandbox, Recorder]]:
    config = SandboxConfig(admin_api=True)
    clock = Clock()
    recorder = Recorder(create_sandbox_app(config, clock=clock))
    with serve(recorder) as server:
        box = Sandbox(server.url, clock, config)
        try:
            box.connect(user="Dana Demo")
            yield box, recorder
        finally:
            box.http.close()


def active_grants(box: Sandbox) -> int:
    assert box.config.admin_token
    headers = admin_headers(box.config.admin_token)
    grants = httpx.get(f"{box.url}/admin/grants", headers=headers, timeout=10).json()["data"]
    return sum(1 for g in grants if g["active"])


def raw(box: Sandbox, request: str, body: bytes = b"") -> int:
    """Send `request` (head lines without the final CRLF) as bytes; return the status."""
    port = int(box.url.rsplit(":", 1)[1])
    head = request.replace("{port}", str(port)).replace("\n", "\r\n")
    data = head.encode() + f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        answer = b""
        while b"\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


# What Chromium sends for `fetch(url, {method: "POST", mode: "no-cors", body})` and for a
# <form method=post> from http://evil.example: no Authorization, a "simple" content type.
BROWSER_HEAD = (
    "POST /admin/grants/revoke HTTP/1.1\n"
    "Host: 127.0.0.1:{port}\n"
    "Origin: http://evil.example\n"
    "Referer: http://evil.example/\n"
    "Sec-Fetch-Site: cross-site\n"
    "Sec-Fetch-Mode: {mode}\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36\n"
    "Content-Type: {type}"
)
SIMPLE = [
    ("no-cors", "text/plain;charset=UTF-8", b"{}"),
    ("navigate", "application/x-www-form-urlencoded", b"user_id=user-1001"),
    ("navigate", "multipart/form-data; boundary=x", b"--x\r\n\r\n--x--\r\n"),
]


@pytest.mark.parametrize(("mode", "content_type", "body"), SIMPLE)
def test_admin_api_refuses_simple_cross_origin_requests(
    world: tuple[Sandbox, Recorder], mode: str, content_type: str, body: bytes
) -> None:
    box, recorder = world
    head = BROWSER_HEAD.replace("{mode}", mode).replace("{type}", content_type)
    assert raw(box, head, body) in (401, 415)
    assert recorder.admin_hits[-1] == ("POST", "/admin/grants/revoke")  # it did arrive
    assert active_grants(box) == 1


def test_admin_api_refuses_a_simple_content_type_even_with_the_token(
    world: tuple[Sandbox, Recorder],
) -> None:
    """Content type is its own check: text/plain never reaches a handler."""
    box, _ = world
    assert box.config.admin_token
    headers = {"Authorization": f"Bearer {box.config.admin_token}", "Content-Type": "text/plain"}
    answer = httpx.post(f"{box.url}/admin/grants/revoke", content=b"{}", headers=headers)
    assert answer.status_code == 415
    assert active_grants(box) == 1


def test_admin_api_refuses_a_foreign_host_dns_rebinding(
    world: tuple[Sandbox, Recorder],
) -> None:
    """A rebound page's requests carry its own name in Host; the token alone is not enough
    (defence in depth), and so neither is a missing one."""
    box, _ = world
    assert box.config.admin_token
    token = box.config.admin_token
    for host in ("evil.example:{port}", "evil.example", "127.0.0.1.evil.example:{port}"):
        head = (
            f"POST /admin/grants/revoke HTTP/1.1\nHost: {host}\n"
            f"Authorization: Bearer {token}\nContent-Type: application/json"
        )
        assert raw(box, head, b"{}") == 403, host
    get = (
        f"GET /admin/grants HTTP/1.1\nHost: rebound.example:{{port}}\nAuthorization: Bearer {token}"
    )
    assert raw(box, get) == 403
    assert active_grants(box) == 1


def test_admin_api_refuses_a_missing_or_wrong_token(world: tuple[Sandbox, Recorder]) -> None:
    box, _ = world
    json_only = {"Content-Type": "application/json"}
    assert httpx.get(f"{box.url}/admin/stats").status_code == 401
    for wrong in ("", "Bearer", "Bearer wrong", f"Basic {box.config.admin_token}"):
        answer = httpx.post(
            f"{box.url}/admin/grants/revoke",
            json={},
            headers={**json_only, "Authorization": wrong},
        )
        assert answer.status_code == 401, wrong
    assert active_grants(box) == 1
    # The holder of the token can still do its job.
    assert box.config.admin_token
    done = httpx.post(
        f"{box.url}/admin/grants/revoke", json={}, headers=admin_headers(box.config.admin_token)
    )
    assert done.json() == {"revoked": 1}


def test_admin_token_is_random_per_start_and_kept_in_a_0600_file(tmp_path: Path) -> None:
    """The `sandbox` command writes a fresh token per start; without the file it refuses."""
    refused = subprocess.run(
        [sys.executable, "-m", "backend.cli", "sandbox", "--port", "0", "--admin-api"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "--admin-token-file" in refused.stderr
    tokens = []
    for n in range(2):
        path = tmp_path / f"token{n}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "sandbox", "--port", "0", "--admin-api",
             "--admin-token-file", str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().split()
            assert line[:1] == ["READY"], line
            url = line[1]
            assert path.stat().st_mode & 0o777 == 0o600
            token = read_token_file(path)
            assert token not in " ".join(line)
            assert httpx.get(f"{url}/admin/stats", timeout=10).status_code == 401
            ok = httpx.get(f"{url}/admin/stats", headers=admin_headers(token), timeout=10)
            assert ok.status_code == 200
            tokens.append(token)
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=10)
        assert token not in err
    assert len(set(tokens)) == 2
    assert all(len(t) >= 43 for t in tokens)  # 256 random bits


def test_backend_with_demo_ads_writes_its_admin_token_0600_in_its_data_folder(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = {
        **os.environ,
        "CONNECTED_ACCOUNTS_DATA_DIR": str(data),
        "CONNECTED_ACCOUNTS_DATABASE_URL": f"sqlite:///{tmp_path / 'b.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--port", "0", "--embedded"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[:1] == ["READY"], line
        token_file = data / "sandbox-admin-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        sandbox = f"{line[1]}/sandbox"
        assert httpx.post(f"{sandbox}/admin/reset", json={}, timeout=10).status_code == 401
        headers = admin_headers(read_token_file(data))
        assert httpx.post(f"{sandbox}/admin/reset", headers=headers, timeout=10).status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert read_token_file(data) not in err


# -- real headless Chromium -------------------------------------------------------------------
ATTACK_PAGE = """<!doctype html><meta charset="utf-8"><title>cute cats</title>
<form id="f" method="post" action="{admin}/grants/revoke" target="sink"
      enctype="text/plain"><input name='{{"user_id":"user-1001","x":"' value='"}}'></form>
<iframe name="sink"></iframe>
<script>
(async () => {{
  const tries = [
    fetch("{admin}/grants/revoke", {{method: "POST", mode: "no-cors", body: "{{}}"}}),
    fetch("{admin}/grants/revoke", {{method: "POST", mode: "no-cors",
      headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}}),
    fetch("{admin}/tokens/expire", {{method: "POST", mode: "no-cors",
      body: new URLSearchParams({{a: "1"}})}}),
  ];
  await Promise.allSettled(tries);
  document.getElementById("f").submit();
  setTimeout(() => {{ document.title = "done"; }}, 1500);
}})();
</script>"""


class _Page(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:  # http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: Any) -> None:
        pass


def test_admin_api_withstands_a_real_browser_page(
    world: tuple[Sandbox, Recorder], tmp_path: Path
) -> None:
    """An attacker's page on another origin (`localhost:other-port`, so no private-network
    block stands in the way) fires no-cors fetches and a text/plain form post at the admin
    API. They reach the sandbox, and change nothing."""
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.support.browser import chromium

    box, recorder = world
    _Page.page = ATTACK_PAGE.format(admin=f"{box.url}/admin").encode()
    page = HTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=page.serve_forever, daemon=True)
    thread.start()
    driver = chromium(str(tmp_path / "profile"))
    try:
        driver.get(f"http://localhost:{page.server_address[1]}/")
        WebDriverWait(driver, 30).until(lambda d: d.title == "done")
    finally:
        driver.quit()
        page.shutdown()
        page.server_close()
        thread.join(timeout=10)
    posts = [hit for hit in recorder.admin_hits if hit[0] == "POST"]
    assert len(posts) >= 4, recorder.admin_hits  # the browser did send every attack
    assert active_grants(box) == 1
    assert box.config.admin_token
    stats = httpx.get(
        f"{box.url}/admin/stats", headers=admin_headers(box.config.admin_token), timeout=10
    ).json()["demo-desktop"]
    assert stats["revocations"] == 0
