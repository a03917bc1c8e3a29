"""One `[providers.<id>]` TOML table, validated (design "Provider configuration").

Every field is optional here: a preset fills in the rest (backend/providers/presets.py) and the
table overrides any of it, so a test can point a preset at a local server.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

Preset = Literal["demo", "meta", "google_ads", "linkedin_ads", "microsoft_ads", "oauth2"]
AdapterName = Literal["meta_insights", "google_ads", "linkedin_ads", "microsoft_ads", "demo"]
AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]

PRESETS: tuple[str, ...] = get_args(Preset)

# Parameters the flow itself sets; a config that tried to set them would weaken the flow
# (e.g. code_challenge_method=plain, RFC 9700 §2.1.1) or break it.
PROTECTED_AUTHORIZE_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
        "nonce",
        "scope",
    }
)


class ReportsConfig(BaseModel):
    """`reports = {adapter, base_url, ...}`: where and how report data is read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    adapter: AdapterName | None = None
    base_url: str | None = None
    # Google Ads (API version), LinkedIn (the LinkedIn-Version header, YYYYMM)
    api_version: str | None = None
    developer_token_env: str | None = None
    developer_token: SecretStr | None = None
    login_customer_id: str | None = None
    # Meta: which `actions[].action_type` values count as conversions.
    conversion_action_types: list[str] | None = None
    # Meta: the one action type counted as a conversion (and its value from action_values),
    # and `action_attribution_windows` (e.g. ["7d_click", "1d_view"]); Meta's default if unset.
    conversion_action: str | None = None
    attribution_windows: list[str] | None = None
    # Meta: reports guessed to exceed this many rows run as asynchronous report runs.
    async_rows: int | None = Field(default=None, ge=1)
    page_size: int | None = Field(default=None, ge=1, le=10_000)
    # Microsoft Advertising: the Customer Management host (base_url is the Reporting host) and
    # how the Reporting service's submit -> poll cycle is paced.
    customer_base_url: str | None = None
    poll_interval_s: float | None = Field(default=None, gt=0)
    poll_timeout_s: float | None = Field(default=None, gt=0)
    # Caps on one report (http.MAX_REPORT_ROWS, http.MAX_PAGES when unset).
    max_rows: int | None = Field(default=None, ge=1)
    max_pages: int | None = Field(default=None, ge=1)

    @field_validator("base_url", "customer_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("login_customer_id")
    @classmethod
    def _digits_only(cls, value: str | None) -> str | None:
        # Google shows ids as 123-456-7890; the header wants the digits alone.
        return value.replace("-", "") if value else value


class ProviderConfig(BaseModel):
    """A provider table after the preset's defaults were merged under it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: Preset
    display_name: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    # Allowed for local testing; prefer client_secret_env so the secret stays out of files.
    client_secret: SecretStr | None = None
    redirect: Literal["loopback", "backend"] | None = None
    issuer: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    revocation_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    # OIDC: where the id_token signing keys are published (else from discovery).
    jwks_uri: str | None = None
    # RFC 9207 §3: the provider always sends `iss` in authorization responses (else from
    # discovery); a response without it is then refused.
    authorization_response_iss_parameter_supported: bool | None = None
    token_endpoint_auth_method: AuthMethod | None = None
    scopes: list[str] | None = None
    authorize_params: dict[str, str] = Field(default_factory=dict)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    max_report_days: int | None = Field(default=None, ge=1)
    # Network: per-request timeout and the retry policy of backend/providers/http.py.
    timeout_s: float = Field(default=20.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    retry_attempts: int = Field(default=3, ge=1, le=10)
    retry_base_delay_s: float = Field(default=0.25, ge=0)
    retry_max_delay_s: float = Field(default=4.0, ge=0)
    retry_after_cap_s: float = Field(default=5.0, ge=0)
    # Discovery (generic oauth2): set false to require every endpoint one by one.
    discovery: bool = True
    # Where a user removes this app's access by hand (providers without a revocation API).
    manage_access_url: str | None = None
    # Google: "testing" apps get 7-day grants (docs/PROVIDERS.md); else "production".
    publishing_status: Literal["testing", "production"] | None = None

    @field_validator("authorize_params")
    @classmethod
    def _no_protected_params(cls, value: dict[str, str]) -> dict[str, str]:
        clash = sorted(PROTECTED_AUTHORIZE_PARAMS & value.keys())
        if clash:
            raise ValueError(
                f"authorize_params may not set {', '.join(clash)}: the connect flow sets those."
            )
        return value
