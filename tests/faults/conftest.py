"""Fault suite fixtures: the API test backend (real uvicorn, real app, a real Demo Ads sandbox on
its own port with fault knobs) on SQLite, signed-in users; tests that need PostgreSQL, another
process or a small disk make their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backend.api.conftest import (  # noqa: F401  (fixtures)
    _cheap_password_hashing,
    api_factory,
    backend,
    sandbox_url,
)
from tests.backend.conftest import other_user, user  # noqa: F401  (fixtures)
from tests.faults.procs import procs  # noqa: F401  (fixture: server processes, both databases)


@pytest.fixture(scope="module")
def api_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite database per module."""
    path: Path = tmp_path_factory.mktemp("faults") / "backend.sqlite3"
    return f"sqlite:///{path}"
