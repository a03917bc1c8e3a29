"""Typed dependency aliases so route signatures read as sentences."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from backend.state import AppState
from backend.vault import Vault


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.ca
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_vault(request: Request) -> Vault:
    return get_state(request).vault


VaultDep = Annotated[Vault, Depends(get_vault)]
