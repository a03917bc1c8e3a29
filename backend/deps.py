"""Typed dependency aliases so route signatures read as sentences."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from backend.state import AppState


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.ca
    return state


StateDep = Annotated[AppState, Depends(get_state)]
