"""Backend settings (environment / CLI) and the provider TOML file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_NAME = "connected-accounts-backend"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


class Settings(BaseSettings):
    """One place for every knob; env prefix `CONNECTED_ACCOUNTS_`."""

    model_config = SettingsConfigDict(env_prefix="CONNECTED_ACCOUNTS_", extra="ignore")

    database_url: str | None = None
    config: Path | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8765
    public_url: str | None = None
    vault_keys: str | None = Field(default=None, repr=False)
    signing_key_file: Path | None = None
    sandbox: bool = False
    embedded: bool = False
    # The per-user local companion service (backend.localsvc): local sign-in, idle stop,
    # vault key in the OS keyring.
    local_service: bool = False
    # Seconds without a request in flight or an open event stream before the local service
    # stops by itself (CONNECTED_ACCOUNTS_IDLE_TIMEOUT).
    idle_timeout: float = Field(default=600.0, gt=0)
    log_level: str = "INFO"
    # Lifetime of the backend's access JWTs (capped at 15 minutes by the auth code).
    access_token_ttl_s: int = 900
    # Refresh an access token once this fraction of its lifetime has passed.
    refresh_lead_fraction: float = 0.1
    # The refresh lease (design: "Token refresh rules"): its owner renews it every third of
    # this while the provider call runs, so only a dead owner's lease lapses; then another
    # process takes over after at most this long. It must outlast the 30 s the owner keeps
    # retrying to store rotated tokens while the database is away (vault/lease.py).
    refresh_lease_s: float = Field(default=60.0, ge=1.0)
    # Per-user limits (backend/user_limits.py), counted in the database across processes.
    reports_in_flight_per_user: int = Field(default=4, ge=1)
    checks_per_minute_per_user: int = Field(default=30, ge=1)
    imports_per_hour_per_user: int = Field(default=20, ge=1)
    login_throttle_base_s: float = 0.5
    # Cap of the delay added to every sign-in at an email many addresses failed at.
    login_delay_max_s: float = Field(default=10.0, ge=0)
    # A device's sign-in ends after this many days without a renewal, and after
    # `device_max_age_days` in any case (backend/auth/expiry.py).
    device_idle_days: float = Field(default=30, gt=0)
    device_max_age_days: float = Field(default=365, gt=0)
    # Bounded requests (backend/limits.py): body cap, head/body read timeout, and uvicorn's
    # limit on connections + requests in flight (past it: 503) and its listen backlog.
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    request_read_timeout_s: float = Field(default=15.0, gt=0)
    limit_concurrency: int = Field(default=4096, gt=0)
    backlog: int = Field(default=2048, gt=0)
    # Proxies whose X-Forwarded-For / -Proto are believed (comma-separated addresses or
    # networks, "*" for any); none by default, so a client cannot pick its own address.
    forwarded_allow_ips: str | None = None
    # Serve plain HTTP beyond loopback without a TLS proxy (backend/transport.py).
    insecure_http: bool = False
    # Backend relay (design: "Backend-relayed redirect"): how long the one-time ticket and the
    # parked grant live, and how often each process looks for unclaimed grants to revoke.
    relay_ticket_ttl_s: float = Field(default=120.0, gt=0)
    relay_sweep_interval_s: float = Field(default=30.0, gt=0)
    # Connect attempts one user may have in progress at once (each holds a verifier and,
    # relayed, perhaps a live grant); past it POST /v1/flows answers 429.
    max_pending_flows: int = Field(default=20, ge=1)
    # GET /v1/events: a comment line this often keeps idle streams open through proxies.
    events_keepalive_s: float = 15.0
    # SQLite: how often a process with open event streams looks for new events.
    events_poll_s: float = 0.25

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'backend.sqlite3'}"

    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def load_toml(self) -> dict[str, Any]:
        """The provider/sandbox TOML file; empty when none is configured."""
        if self.config is None:
            return {}
        try:
            with self.config.open("rb") as fh:
                return tomllib.load(fh)
        except FileNotFoundError:
            raise ValueError(f"The config file {self.config} does not exist.") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"The config file {self.config} is not valid TOML: {exc}") from None

    def provider_tables(self) -> dict[str, dict[str, Any]]:
        tables: dict[str, dict[str, Any]] = dict(self.load_toml().get("providers", {}))
        if (self.sandbox or self.embedded or self.local_service) and "demo" not in tables:
            tables["demo"] = {"preset": "demo"}
        return tables

    def sandbox_table(self) -> dict[str, Any]:
        return dict(self.load_toml().get("sandbox", {}))

    @property
    def sandbox_enabled(self) -> bool:
        return self.sandbox or self.embedded or self.local_service or "sandbox" in self.load_toml()
