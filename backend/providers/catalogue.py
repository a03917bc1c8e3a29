"""The preset catalogue (`connected-accounts-backend presets`): what each preset needs from the
operator and where each platform's app is registered. docs/PROVIDERS.md walks through each."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from backend.providers.config import PRESETS
from backend.providers.presets import preset_defaults

RELAY_URI = "{public_url}/v1/flows/callback"
LOOPBACK_URI = "http://127.0.0.1/callback (any port: the app picks one for each connect)"


@dataclass(frozen=True)
class PresetInfo:
    """One preset as an operator sees it before configuring it."""

    id: str
    display_name: str
    needs_client_id: bool
    client_secret_env: str | None
    developer_token_env: str | None
    redirect: str
    redirect_uri_to_register: str | None
    registration_url: str | None
    developer_token_url: str | None
    docs: str


# What the defaults cannot say: where to register, and the variable name we suggest.
_EXTRA: dict[str, dict[str, str | None]] = {
    "demo": {
        "display_name": "Demo Ads",
        "client_secret_env": None,
        "registration_url": None,
        "developer_token_url": None,
    },
    "meta": {
        "display_name": "Meta Ads",
        "client_secret_env": "META_CLIENT_SECRET",
        "registration_url": "https://developers.facebook.com/apps/",
        "developer_token_url": None,
    },
    "google_ads": {
        "display_name": "Google Ads",
        "client_secret_env": "GOOGLE_ADS_CLIENT_SECRET",
        "registration_url": "https://console.cloud.google.com/apis/credentials",
        "developer_token_url": "https://ads.google.com/aw/apicenter",
    },
    "linkedin_ads": {
        "display_name": "LinkedIn Ads",
        "client_secret_env": "LINKEDIN_CLIENT_SECRET",
        "registration_url": "https://www.linkedin.com/developers/apps",
        "developer_token_url": None,
    },
    "microsoft_ads": {
        "display_name": "Microsoft Advertising",
        "client_secret_env": "MICROSOFT_ADS_CLIENT_SECRET",
        "registration_url": (
            "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationsListBlade"
        ),
        "developer_token_url": "https://developers.ads.microsoft.com/Account",
    },
    "oauth2": {
        "display_name": "Any OAuth 2.0 / OpenID Connect provider",
        "client_secret_env": "<ID>_CLIENT_SECRET",
        "registration_url": None,  # the provider's own developer console
        "developer_token_url": None,
    },
}


# The sections of docs/PROVIDERS.md (GitHub's anchors of its headings).
_ANCHORS = {
    "demo": "demo-ads",
    "meta": "meta-ads",
    "google_ads": "google-ads",
    "linkedin_ads": "linkedin-ads",
    "microsoft_ads": "microsoft-advertising",
    "oauth2": "any-oauth-20-provider",
}


def catalogue() -> list[PresetInfo]:
    """Every preset, in the order of the configuration reference."""
    infos: list[PresetInfo] = []
    for preset in PRESETS:
        defaults = preset_defaults(preset, sandbox_url="http://sandbox.invalid") or {}
        extra = _EXTRA[preset]
        redirect = str(defaults.get("redirect") or "loopback")
        reports: dict[str, Any] = defaults.get("reports") or {}
        builtin = preset == "demo"
        infos.append(
            PresetInfo(
                id=preset,
                display_name=str(extra["display_name"]),
                needs_client_id=not builtin,
                client_secret_env=extra["client_secret_env"],
                developer_token_env=reports.get("developer_token_env"),
                redirect=redirect,
                redirect_uri_to_register=None
                if builtin
                else RELAY_URI
                if redirect == "backend"
                else LOOPBACK_URI,
                registration_url=extra["registration_url"],
                developer_token_url=extra["developer_token_url"],
                docs=f"docs/PROVIDERS.md#{_ANCHORS[preset]}",
            )
        )
    return infos


def as_json() -> str:
    return json.dumps([asdict(info) for info in catalogue()], indent=2)


def as_text() -> str:
    """The catalogue for people: one block per preset."""
    blocks: list[str] = []
    for info in catalogue():
        lines = [f"{info.id} — {info.display_name}"]
        if info.id == "demo":
            lines.append("  needs: nothing (the built-in sandbox; serve with --sandbox)")
        else:
            needs = ["client_id"]
            if info.client_secret_env:
                needs.append(f"client_secret_env (e.g. {info.client_secret_env})")
            if info.developer_token_env:
                needs.append(f"a developer token in ${info.developer_token_env}")
            if info.id == "oauth2":
                needs.append("issuer, or the endpoints one by one")
            lines.append(f"  needs: {', '.join(needs)}")
            lines.append(f"  redirect: {info.redirect} — register {info.redirect_uri_to_register}")
        if info.registration_url:
            lines.append(f"  register the app at: {info.registration_url}")
        if info.developer_token_url:
            lines.append(f"  developer token from: {info.developer_token_url}")
        lines.append(f"  how-to: {info.docs}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
