"""PLACEHOLDER (owner: providers engineer)."""

from collections.abc import Mapping
from typing import Any

from backend.providers.base import Provider


async def build_providers(
    tables: Mapping[str, Mapping[str, Any]], *, env: Mapping[str, str], public_url: str,
    sandbox_url: str | None,
) -> dict[str, Provider]:
    return {}
