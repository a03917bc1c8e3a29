"""PLACEHOLDER (owner: auth engineer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from backend.errors import Unauthorized


@dataclass(frozen=True)
class Principal:
    user_id: str
    device_id: str


async def current_principal() -> Principal:
    raise Unauthorized("Sign in first.")


CurrentUser = Annotated[Principal, Depends(current_principal)]
