"""Demo Ads sandbox settings: clients, people, seed, fault knobs, persistence.

Everything is a mutable pydantic model so the backend (and the admin API) can adjust a
running sandbox; `SandboxConfig.from_toml_table` reads the backend TOML `[sandbox]` table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCOPES: dict[str, str] = {
    "openid": "Confirm who you are (your name and email address)",
    "ads_read": "See your ad accounts and read their performance reports",
    "ads_management": "Create and change campaigns in your ad accounts",
    "business_management": "Manage your business settings and people",
}
DEFAULT_CLIENT_ID = "demo-desktop"


class Faults(BaseModel):
    """Per-client fault knobs; the counters (`fail_next_*`, `rate_limit_next`) count down."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    latency_ms: int = Field(default=0, ge=0, le=60_000)
    fail_next_token: int = Field(default=0, ge=0)
    fail_next_api: int = Field(default=0, ge=0)
    rate_limit_next: int = Field(default=0, ge=0)
    retry_after: int = Field(default=1, ge=0, le=3600)
    access_token_lifetime: int = Field(default=3600, ge=1)
    # Demo Ads models a 60-day grant, as Meta's long-lived tokens; None: grants never lapse.
    grant_lifetime: int | None = Field(default=60 * 86_400, ge=1)
    # A provider that stalls: refreshes ("token") or API calls ("api") wait until their kind is
    # taken off this list (for `hold_users` only, when given). A held request whose client went
    # away meanwhile is dropped unprocessed, like a request lost in the network.
    hold: list[Literal["token", "api"]] = Field(default_factory=list)
    hold_users: list[str] = Field(default_factory=list)


class ClientConfig(BaseModel):
    """A registered OAuth client (RFC 6749 §2): credentials and where it may be redirected."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    client_id: str
    client_secret: str
    name: str = "Connected Accounts"
    # RFC 8252 §7.3: native apps may use any loopback port; on by default.
    allow_loopback: bool = True
    redirect_uris: list[str] = Field(default_factory=list)
    scopes: list[str] = Field(default_factory=lambda: list(SCOPES))
    default_scopes: list[str] = Field(default_factory=lambda: ["ads_read"])
    faults: Faults = Field(default_factory=Faults)


class UserConfig(BaseModel):
    """A person who can sign in at the consent page."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    id: str
    name: str
    email: str


def _default_clients() -> list[ClientConfig]:
    return [ClientConfig(client_id=DEFAULT_CLIENT_ID, client_secret="demo-secret")]  # noqa: S106 (public demo)


def _default_users() -> list[UserConfig]:
    return [
        UserConfig(id="user-1001", name="Dana Demo", email="dana@demo-ads.example"),
        UserConfig(id="user-1002", name="Sam Sample", email="sam@demo-ads.example"),
    ]


class SandboxConfig(BaseModel):
    """The whole sandbox: who may connect, who may sign in, how data is seeded."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    clients: list[ClientConfig] = Field(default_factory=_default_clients)
    users: list[UserConfig] = Field(default_factory=_default_users)
    seed: int = 20261129
    admin_api: bool = False
    # Made fresh by create_sandbox_app at each start when the admin API is on (admin.py).
    admin_token: str | None = Field(default=None, repr=False, exclude=True)
    # Host names besides loopback the admin API answers on (e.g. a backend's public host).
    admin_hosts: list[str] = Field(default_factory=list)
    state_file: Path | None = None
    code_lifetime: int = Field(default=60, ge=1)
    consent_lifetime: int = Field(default=600, ge=1)
    max_report_days: int = 731
    # Dana's "Benchmark — 100 campaigns" account (act_1099): only for bench/ and its tests.
    benchmark_account: bool = False

    def client(self, client_id: str) -> ClientConfig | None:
        return next((c for c in self.clients if c.client_id == client_id), None)

    def user(self, user_id: str) -> UserConfig | None:
        return next((u for u in self.users if u.id == user_id), None)

    @classmethod
    def from_toml_table(cls, table: dict[str, Any]) -> SandboxConfig:
        """Read `[sandbox]`: `seed`, `admin_api`, `state_file`, `users`, and `clients` either as
        an array of tables or as `[sandbox.clients.<client_id>]` sub-tables (merged onto the
        default client when the id matches). A `faults` table applies to the default client."""
        data = dict(table)
        clients = data.pop("clients", None)
        faults = data.pop("faults", None)
        config = cls.model_validate(data)
        if isinstance(clients, dict):
            clients = [{"client_id": cid, **dict(v)} for cid, v in clients.items()]
        for raw in clients or []:
            entry = dict(raw)
            existing = config.client(str(entry.get("client_id", "")))
            if existing is not None:
                merged = existing.model_dump() | entry
                config.clients = [
                    ClientConfig.model_validate(merged) if c is existing else c
                    for c in config.clients
                ]
            else:
                config.clients = [*config.clients, ClientConfig.model_validate(entry)]
        if faults:
            default = config.client(DEFAULT_CLIENT_ID)
            if default is not None:
                default.faults = Faults.model_validate(faults)
        return config
