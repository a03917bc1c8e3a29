"""Typed dependency aliases so route signatures read as sentences."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from backend.state import AppState
from backend.vault import Vault


# `async def`: FastAPI runs a plain `def` dependency on a worker thread, a thread hop per
# request for a one-line lookup (bench/backend_overhead.py).
async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.ca
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_vault(request: Request) -> Vault:
    state: AppState = request.app.state.ca
    return state.vault


VaultDep = Annotated[Vault, Depends(get_vault)]
