"""Typed dependency aliases so route signatures read as sentences."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from backend.state import AppState
from backend.vault import Vault


def app_state(request: Request) -> AppState:
    """The AppState of the app serving `request` (for code that is not a dependency)."""
    state: AppState = request.app.state.ca
    return state


# `async def`: FastAPI runs a plain `def` dependency on a worker thread, a thread hop per
# request for a one-line lookup (bench/backend_overhead.py).
async def get_state(request: Request) -> AppState:
    return app_state(request)


StateDep = Annotated[AppState, Depends(get_state)]


async def get_vault(request: Request) -> Vault:
    return app_state(request).vault


VaultDep = Annotated[Vault, Depends(get_vault)]
