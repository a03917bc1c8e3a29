"""Build the FastAPI application for one backend process."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi import FastAPI

from backend import __version__
from backend.activity import ActivityMiddleware
from backend.config import Settings
from backend.db.engine import make_engine, reads_never_wait, session_factory
from backend.db.migrate import upgrade
from backend.errors import install_error_handlers, problem_responses
from backend.files import prepare_storage
from backend.limits import BoundedRequests
from backend.state import AppState

if TYPE_CHECKING:
    from backend.vault import KeyRing, VaultKeyPlace

log = logging.getLogger(__name__)


def _mount_sandbox(app: FastAPI, settings: Settings) -> None:
    from backend.sandbox.admin import TOKEN_FILE_NAME, write_token_file
    from backend.sandbox.app import create_sandbox_app
    from backend.sandbox.config import SandboxConfig

    table = settings.sandbox_table()
    config = SandboxConfig.from_toml_table(table)
    if settings.embedded or settings.local_service:
        # The desktop's own sandbox: keep demo grants across restarts; fault knobs for demos.
        if config.state_file is None:
            config.state_file = settings.data_dir / "sandbox-state.json"
        if "admin_api" not in table:
            config.admin_api = True
    public_host = urlsplit(settings.resolved_public_url()).hostname
    # Never the unspecified address: browsers send `Host: 0.0.0.0` for pages that fetch it.
    if public_host and public_host not in {"0.0.0.0", "::", *config.admin_hosts}:  # noqa: S104
        config.admin_hosts = [*config.admin_hosts, public_host]
    app.mount("/sandbox", create_sandbox_app(config))
    if config.admin_api and config.admin_token:
        # Only this OS user can read it: whoever started the backend (tests, bench, scripts).
        path = settings.data_dir / TOKEN_FILE_NAME
        write_token_file(path, config.admin_token)
        log.info("Demo Ads admin API on; its token for this start is in %s", path)


def create_app(
    settings: Settings | None = None,
    *,
    vault: tuple[KeyRing, VaultKeyPlace | None] | None = None,
) -> FastAPI:
    """Open the database (migrating it), load the keys, and wire the routers.

    `vault`: the key ring (and where its key lives) when the caller loaded it already."""
    from backend.auth.endpoints import router as auth_router
    from backend.auth.keys import load_signing_key
    from backend.connections.endpoints import router as connections_router
    from backend.events.endpoints import router as events_router
    from backend.flows.endpoints import router as flows_router
    from backend.flows.sweeper import sweeping
    from backend.meta_endpoints import router as meta_router
    from backend.providers.registry import build_providers
    from backend.reports.endpoints import router as reports_router
    from backend.vault import load_vault_keys

    settings = settings or Settings()
    prepare_storage(settings.data_dir, settings.resolved_database_url())
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    public_url = settings.resolved_public_url()
    keyring, vault_place = vault if vault is not None else load_vault_keys(settings)
    state = AppState(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        keyring=keyring,
        signing_key=load_signing_key(settings),
        public_url=public_url,
        read_inline=reads_never_wait(engine),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sandbox_url = f"{public_url}/sandbox" if settings.sandbox_enabled else None
        state.providers = await build_providers(
            settings.provider_tables(),
            env=os.environ,
            public_url=public_url,
            sandbox_url=sandbox_url,
        )
        log.info("providers enabled: %s", ", ".join(state.providers) or "none")
        try:
            # Unclaimed relayed grants are revoked from every process, starting now.
            async with sweeping(state):
                yield
        finally:
            await state.slot_leases.aclose()  # spare in-flight slots go back to the pool now
            state.events.close()
            for provider in state.providers.values():
                await provider.aclose()
            engine.dispose()

    app = FastAPI(
        title="Connected Accounts backend",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.ca = state
    app.state.vault_place = vault_place
    # Every request counts as activity while in flight (the local service's idle stop).
    app.add_middleware(ActivityMiddleware, activity=state.activity)
    # Servers call this before draining connections: open event streams never end by
    # themselves, so without it a shutdown would wait for them for ever.
    app.state.before_shutdown = state.events.close
    install_error_handlers(app)
    # Outside the error middleware: a refused body never reaches a route (backend/limits.py).
    app.add_middleware(
        BoundedRequests,
        max_body_bytes=settings.max_body_bytes,
        read_timeout_s=settings.request_read_timeout_s,
    )
    # Document the problem+json answers every route may give (RFC 9457), so clients and
    # schema checkers see them; declaring 422 also replaces FastAPI's default body for it.
    problems = problem_responses()
    # Reports first: a request is matched against the routes in order, and reports are the
    # busiest route (bench/backend_overhead.py); no other path overlaps theirs.
    app.include_router(reports_router, responses=problems)
    app.include_router(meta_router, responses=problems)
    app.include_router(auth_router, responses=problems)
    app.include_router(flows_router, responses=problems)
    app.include_router(connections_router, responses=problems)
    app.include_router(events_router, responses=problems)
    if settings.local_service:
        from backend.localsvc.endpoints import router as local_router

        app.include_router(local_router, responses=problems)
    if settings.sandbox_enabled:
        _mount_sandbox(app, settings)
    return app
