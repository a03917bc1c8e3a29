"""Run the Alembic migrations programmatically (at start and by `migrate`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
_REVISION = re.compile(r"""^revision(?::\s*str)?\s*=\s*["']([^"']+)["']""", re.M)
_DOWN = re.compile(r"""^down_revision[^=]*=\s*["']([^"']+)["']""", re.M)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a '%' in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _script_heads() -> set[str]:
    """Revisions no other migration builds on, read from the files (a merge's tuple of
    down revisions is not parsed: it then looks like two heads and Alembic decides)."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revisions.update(_REVISION.findall(text))
        downs.update(_DOWN.findall(text))
    return revisions - downs


def at_head(engine: Engine) -> bool:
    """True when the database is already at the one head revision (nothing to do)."""
    heads = _script_heads()
    if len(heads) != 1:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except SQLAlchemyError:
        return False
    return {row[0] for row in rows} == heads


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema, reusing `engine` (and its SQLite pragmas).

    A database at the head already skips Alembic altogether: importing it and reading the
    script folder is a tenth of the local service's start (bench/cli_latency.py)."""
    if at_head(engine):
        return
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two backend processes starting together must not both create the tables.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7316254)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
