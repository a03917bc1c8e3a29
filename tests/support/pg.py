"""Fresh PostgreSQL databases for tests, on the server at 127.0.0.1:5432."""

from __future__ import annotations

import os
import secrets

from sqlalchemy import Engine, create_engine, text

ADMIN_URL = os.environ.get(
    "CA_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _admin_engine() -> Engine:
    return create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


def create_database(prefix: str = "ca_test") -> str:
    """Create an empty database and return its SQLAlchemy URL."""
    name = f"{prefix}_{secrets.token_hex(5)}"
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
