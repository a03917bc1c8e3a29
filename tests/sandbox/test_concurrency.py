"""Concurrent requests: the lock around state changes lets one of many racing requests win."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.sandbox.conftest import AUTH, REDIRECT, Sandbox
from tests.support.browser import tls_context


def test_concurrent_refreshes_with_one_token_let_exactly_one_through(sandbox: Sandbox) -> None:
    refresh_token = sandbox.connect()["refresh_token"]

    def attempt(_: int) -> int:
        with httpx.Client(base_url=sandbox.url, timeout=20, verify=tls_context()) as client:
            data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
            return client.post("/token", data=data, auth=AUTH).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(attempt, range(8)))
    assert codes.count(200) == 1
    assert codes.count(400) == 7
    stats = sandbox.stats()
    assert stats["refreshes"] == 1
    assert stats["refresh_failures"] == 7
    assert stats["reused_refresh_tokens"] == 1  # the first replay ends the grant


def test_concurrent_redemptions_of_one_code_issue_tokens_once(sandbox: Sandbox) -> None:
    code, verifier = sandbox.code()

    def attempt(_: int) -> int:
        with httpx.Client(base_url=sandbox.url, timeout=20, verify=tls_context()) as client:
            data = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            }
            return client.post("/token", data=data, auth=AUTH).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(attempt, range(6)))
    assert codes.count(200) == 1
    assert sandbox.stats()["codes_redeemed"] == 1
