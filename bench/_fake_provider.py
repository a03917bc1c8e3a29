"""A provider that answers at once: the Demo Ads API shape as a raw ASGI app serving precomputed
bytes (every access token accepted; a one-day account-level report whatever the query asks).
`/authorize` redirects straight back with a code; `/token` always issues fresh-looking tokens.
`python -m bench._fake_provider` prints `READY <url>`."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

import uvicorn

from backend.sandbox import data, report_rows

SEED = 20261129
USER = "user-1001"
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _bodies() -> dict[str, bytes]:
    accounts = data.accounts_for(USER, benchmark=True)  # as bench/_support.sandbox_toml asks
    day = date.today() - timedelta(days=1)
    rows = report_rows.rows_json(SEED, accounts[0], day, "account", 0, 1)
    insights = f'{{"data":[{",".join(rows)}],"paging":{{"next_cursor":null}}}}'
    return {
        "/api/me": json.dumps({"id": USER, "name": "Dana", "email": "dana@x.example"}).encode(),
        "/api/accounts": json.dumps({"data": [
            {"id": a.id, "name": a.name, "currency": a.currency, "time_zone": a.time_zone}
            for a in accounts
        ]}).encode(),
        "insights": insights.encode(),
    }  # fmt: skip


BODIES = _bodies()
JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path: str = scope["path"]
    while (await receive()).get("more_body"):
        pass
    status, headers, body = 404, JSON, b'{"error":"not_found"}'
    if path == "/authorize":
        q = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        # RFC 9207: the Demo Ads preset expects `iss` (the sandbox always sends it), so does
        # this stand-in: its own origin, the issuer the benchmark configures.
        host = dict(scope["headers"]).get(b"host", b"").decode()
        issuer = f"{scope.get('scheme', 'http')}://{host}"
        answer = urlencode({"code": secrets.token_urlsafe(16), "state": q["state"], "iss": issuer})
        location = f"{q['redirect_uri']}?{answer}"
        status, headers, body = 302, [(b"location", location.encode())], b""
    elif path == "/token":
        token = {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer",
                 "expires_in": 3600, "refresh_token": secrets.token_urlsafe(24),
                 "scope": "ads_read"}  # fmt: skip
        status, body = 200, json.dumps(token).encode()
    elif path == "/revoke":
        status, body = 200, b"{}"
    elif path in BODIES:
        status, body = 200, BODIES[path]
    elif path.startswith("/api/accounts/") and path.endswith("/insights"):
        status, body = 200, BODIES["insights"]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Answer at once: without TCP_NODELAY a keep-alive answer written in two pieces waits ~40 ms
    # for the peer's delayed ACK (Nagle) under the default asyncio loop.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                print(f"READY http://127.0.0.1:{port}", flush=True)

    asyncio.run(_Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
