"""A real browser (headless Debian Chromium) clicks through the consent page and lands on a
loopback receiver of this test's own, as the desktop app's receiver would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.sandbox.conftest import Sandbox, pkce_pair, query_of
from tests.support.browser import chromium


class Receiver(HTTPServer):
    """One-page loopback server that remembers the callback URLs it was sent."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_GET(self) -> None:  # http.server's naming
        if urlsplit(self.path).path != "/callback":
            self.send_error(404)
            return
        self.server.hits.append(self.path)
        body = b"<!doctype html><title>Connected</title><p id=done>You can close this tab.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep codes out of the log
        return


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_person_picks_an_account_clicks_allow_and_lands_on_the_receiver(
    sandbox: Sandbox, receiver: Receiver, tmp_path: Path
) -> None:
    redirect = f"http://127.0.0.1:{receiver.server_address[1]}/callback"
    verifier, challenge = pkce_pair()
    url = sandbox.authorize_url(
        redirect_uri=redirect, state="chromium-state", code_challenge=challenge
    )
    driver = chromium(str(tmp_path / "profile"))
    try:
        driver.get(url)
        driver.find_element(By.CSS_SELECTOR, 'input[name="user"][value="user-1002"]').click()
        driver.find_element(By.CSS_SELECTOR, 'button[value="allow"]').click()
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "done"))
        landed = driver.current_url
    finally:
        driver.quit()
    assert landed.startswith(redirect + "?")
    assert len(receiver.hits) == 1
    back = query_of(receiver.hits[0])
    assert back["state"] == "chromium-state"
    assert back["iss"] == sandbox.url
    assert back["code"].startswith("demo_ac_")
    tokens = sandbox.redeem(back["code"], verifier, redirect_uri=redirect)
    assert tokens.status_code == 200
    me = sandbox.api("/api/me", tokens.json()["access_token"]).json()
    assert me["name"] == "Sam Sample"
