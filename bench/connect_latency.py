"""Connect latency: from the browser's redirect reaching the desktop's loopback receiver to the
connect call returning the connection (desktop.connect.flow.run_connect with the real ApiClient and
LoopbackReceiver, a backend on SQLite, the real Demo Ads sandbox in its own process).

The browser is played by play_consent in another thread; the clock starts just before it sends
the redirect to the receiver. In the same run the provider's token round trip is timed on its
own: a direct authorization-code redemption at Demo Ads' /token over a warm connection.
Target: connect latency <= token round trip + 100 ms (medians).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import ExitStack

import httpx

from bench._support import (
    backend_env,
    backend_toml,
    create_user,
    direct_code,
    emit,
    login,
    median,
    redeem,
    sandbox_toml,
    start_ready,
    tempdir,
)
from desktop.api.client import ApiClient
from desktop.connect.flow import run_connect
from tests.support.browser import play_consent, tls_context

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
SLACK_MS = 100.0


class _Token:
    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def invalidate(self) -> None:
        pass


def connect_once(client: ApiClient) -> float:
    """One connect; seconds from the redirect reaching the receiver to run_connect returning."""
    sent: list[float] = []
    errors: list[BaseException] = []

    def browser(url: str) -> None:
        def play() -> None:
            try:
                location = play_consent(url)
                with httpx.Client(timeout=30, verify=tls_context()) as http:
                    sent.append(time.perf_counter())
                    http.get(location)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threading.Thread(target=play, daemon=True).start()

    conn = run_connect(client, "demo", open_browser=browser, timeout=60)
    done = time.perf_counter()
    if errors:
        raise errors[0]
    assert conn.status == "connected", conn
    return done - sent[0]


def main() -> None:
    with ExitStack() as stack:
        tmp = tempdir(stack, "bench-connect-")
        env = backend_env(tmp)
        sandbox = start_ready(
            ["sandbox", "--port", "0", "--config", str(sandbox_toml(tmp / "sandbox.toml")),
             "--admin-token-file", str(tmp / "sandbox-admin-token")],
            env, tmp / "sandbox.log", stack,
        )  # fmt: skip
        config = backend_toml(tmp / "backend.toml", sandbox)
        db = f"sqlite:///{tmp / 'backend.sqlite3'}"
        create_user(env, db, config)
        backend = start_ready(
            ["serve", "--port", "0", "--database-url", db, "--config", str(config)],
            env, tmp / "backend.log", stack,
        )  # fmt: skip
        # What-if: Demo Ads and the backend with TCP_NODELAY (bench/_nodelay_serve.py).
        sandbox_nd = start_ready(
            ["sandbox", "--port", "0", "--config", str(tmp / "sandbox.toml"),
             "--admin-token-file", str(tmp / "sandbox-nd-admin-token")],
            env, tmp / "sandbox-nodelay.log", stack, module="bench._nodelay_serve",
        )  # fmt: skip
        config_nd = backend_toml(tmp / "backend-nd.toml", sandbox_nd)
        db_nd = f"sqlite:///{tmp / 'backend-nd.sqlite3'}"
        create_user(env, db_nd, config_nd)
        nodelay = start_ready(
            ["serve", "--port", "0", "--database-url", db_nd, "--config", str(config_nd)],
            env, tmp / "backend-nodelay.log", stack, module="bench._nodelay_serve",
        )  # fmt: skip
        token = login(backend)["Authorization"].split()[1]
        client = stack.enter_context(ApiClient(backend, _Token(token)))
        token_nd = login(nodelay)["Authorization"].split()[1]
        client_nodelay = stack.enter_context(ApiClient(nodelay, _Token(token_nd)))
        connect_once(client_nodelay)
        http = stack.enter_context(httpx.Client(timeout=30))
        redeem(http, sandbox, *direct_code(sandbox))  # warm the connection
        connect_once(client)  # warm-up: first connect of this process

        connect_s: list[float] = []
        nodelay_s: list[float] = []
        token_s: list[float] = []
        for _ in range(RUNS):
            connect_s.append(connect_once(client))
            nodelay_s.append(connect_once(client_nodelay))
            code = direct_code(sandbox)
            t0 = time.perf_counter()
            redeem(http, sandbox, *code)
            token_s.append(time.perf_counter() - t0)
        connect_ms = median(connect_s) * 1000
        token_ms = median(token_s) * 1000
        emit({
            "benchmark": "connect_latency",
            "connect_ms": round(connect_ms, 1),
            "token_round_trip_ms": round(token_ms, 1),
            "overhead_ms": round(connect_ms - token_ms, 1),
            "what_if_tcp_nodelay_connect_ms": round(median(nodelay_s) * 1000, 1),
            "connect_ms_each": [round(s * 1000, 1) for s in connect_s],
            "token_round_trip_ms_each": [round(s * 1000, 1) for s in token_s],
            "target": f"connect_ms <= token_round_trip_ms + {SLACK_MS:.0f}",
            "ok": connect_ms <= token_ms + SLACK_MS,
            "runs": RUNS,
        })  # fmt: skip


if __name__ == "__main__":
    main()
