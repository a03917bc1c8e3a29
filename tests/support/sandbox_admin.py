"""Tests reach Demo Ads' admin API as its starter does: with the token of that start.

In-process sandboxes (alone or mounted at /sandbox in a backend app) are registered by
UvicornThread when it starts; a sandbox in another process is registered from the 0600 token
file it wrote (`remember_file`). `headers_for(url)` then gives the headers an admin call needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from backend.sandbox.admin import admin_headers, read_token_file

_TOKENS: dict[str, str] = {}


def _key(sandbox_url: str) -> str:
    return sandbox_url.rstrip("/")


def remember(sandbox_url: str, token: str) -> None:
    _TOKENS[_key(sandbox_url)] = token


def remember_file(sandbox_url: str, path: Path) -> None:
    """`path`: the token file, or the data folder of a backend that mounts the sandbox."""
    remember(sandbox_url, read_token_file(path))


def _sandbox_in(app: Any) -> Any:
    """The Sandbox of a sandbox app, also behind ASGI wrappers that keep it as `.app`."""
    for _ in range(5):
        sandbox = getattr(getattr(app, "state", None), "sandbox", None)
        if sandbox is not None or not hasattr(app, "app"):
            return sandbox
        app = app.app
    return None


def remember_app(base_url: str, app: Any) -> None:
    """Register the sandbox in `app` (a sandbox app, or a backend app mounting one)."""
    sandbox = _sandbox_in(app)
    if sandbox is not None and sandbox.config.admin_token:
        remember(base_url, sandbox.config.admin_token)
    for route in getattr(app, "routes", []):
        inner = getattr(route, "app", None)
        path = getattr(route, "path", "")
        if inner is not None and path and path != "/" and inner is not app:
            box = _sandbox_in(inner)
            if box is not None and box.config.admin_token:
                remember(f"{_key(base_url)}{path}", box.config.admin_token)


def headers_for(sandbox_url: str) -> dict[str, str]:
    return admin_headers(_TOKENS[_key(sandbox_url)])


def client(sandbox_url: str, **kwargs: Any) -> httpx.Client:
    """An httpx client for the sandbox's admin API (`/admin/...` paths)."""
    kwargs.setdefault("timeout", 30)
    return httpx.Client(base_url=sandbox_url, headers=headers_for(sandbox_url), **kwargs)
