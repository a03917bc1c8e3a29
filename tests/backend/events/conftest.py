"""Event-stream tests use the API suite's real backend (uvicorn, SQLite and PostgreSQL) and its
Demo Ads sandbox."""

from __future__ import annotations

from tests.backend.api.conftest import (  # noqa: F401  (fixtures)
    _cheap_password_hashing,
    api_database_url,
    api_factory,
    backend,
    sandbox_url,
)
from tests.backend.conftest import other_user, user  # noqa: F401  (fixtures)
