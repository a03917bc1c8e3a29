"""The provider answer of `GET /v1/providers` (docs/ARCHITECTURE.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from backend.providers.base import RedirectMode


class ProviderOut(BaseModel):
    """A provider enabled on this backend, and where its consent redirect goes."""

    model_config = ConfigDict(extra="forbid")  # see backend/connections/schemas.py
    id: str
    display_name: str
    kind: str
    scopes: list[str]
    redirect: RedirectMode
