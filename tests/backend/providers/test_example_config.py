"""resources/providers.example.toml loads through the backend's real configuration loader, and
the preset catalogue (`connected-accounts-backend presets`) covers every preset."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from backend.config import Settings
from backend.providers.config import PRESETS
from backend.providers.registry import build_providers
from tests.backend.conftest import BackendFactory, sign_in

EXAMPLE = Path(__file__).resolve().parents[3] / "resources" / "providers.example.toml"
# Placeholder values for every variable the example names.
PLACEHOLDERS = {
    "META_CLIENT_SECRET": "placeholder-meta-secret",
    "GOOGLE_ADS_CLIENT_SECRET": "placeholder-google-secret",
    "GOOGLE_ADS_DEVELOPER_TOKEN": "placeholder-google-developer-token",
    "LINKEDIN_CLIENT_SECRET": "placeholder-linkedin-secret",
    "MICROSOFT_ADS_CLIENT_SECRET": "placeholder-microsoft-secret",
    "MICROSOFT_ADS_DEVELOPER_TOKEN": "placeholder-microsoft-developer-token",
    "ACME_CLIENT_SECRET": "placeholder-acme-secret",
}


def test_the_example_documents_every_platform() -> None:
    tables = tomllib.loads(EXAMPLE.read_text())["providers"]
    assert {t["preset"] for t in tables.values()} == set(PRESETS)


def test_the_example_loads_through_the_real_config_loader(
    backend_factory: BackendFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in PLACEHOLDERS.items():
        monkeypatch.setenv(name, value)
    backend = backend_factory(toml=EXAMPLE.read_text(), sandbox=True)
    user = sign_in(backend)
    with user.client as api:
        listed = {p["id"]: p for p in api.get("/v1/providers").json()}
    assert {pid: (p["kind"], p["redirect"]) for pid, p in listed.items()} == {
        "demo": ("demo", "loopback"),
        "meta": ("meta", "backend"),
        "google": ("google_ads", "loopback"),
        "linkedin": ("linkedin_ads", "backend"),
        "microsoft": ("microsoft_ads", "loopback"),
        "acme": ("oauth2", "loopback"),
    }
    assert listed["microsoft"]["scopes"] == [
        "https://ads.microsoft.com/msads.manage",
        "offline_access",
    ]
    assert listed["linkedin"]["scopes"] == ["r_ads", "r_ads_reporting"]
    google = backend.state.providers["google"]
    assert google.lapse is not None
    assert (google.lapse.kind, google.lapse.days) == ("fixed", 7)  # publishing_status = testing


@pytest.mark.anyio
async def test_the_example_names_a_missing_secret_variable_in_words(tmp_path: Path) -> None:
    settings = Settings(config=EXAMPLE, sandbox=True, data_dir=tmp_path)
    env = {k: v for k, v in PLACEHOLDERS.items() if k != "LINKEDIN_CLIENT_SECRET"}
    with pytest.raises(ValueError, match="LINKEDIN_CLIENT_SECRET, which is not set") as caught:
        await build_providers(
            settings.provider_tables(),
            env=env,
            public_url="https://backend.example",
            sandbox_url="https://backend.example/sandbox",
        )
    assert "placeholder" not in str(caught.value)


def test_presets_command_lists_every_preset_with_what_it_needs() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "backend.cli", "presets", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    presets = {p["id"]: p for p in json.loads(run.stdout)}
    assert list(presets) == list(PRESETS)
    assert presets["meta"]["redirect"] == "backend"
    assert presets["meta"]["client_secret_env"] == "META_CLIENT_SECRET"
    assert presets["google_ads"]["developer_token_env"] == "GOOGLE_ADS_DEVELOPER_TOKEN"
    assert presets["microsoft_ads"]["developer_token_env"] == "MICROSOFT_ADS_DEVELOPER_TOKEN"
    assert presets["linkedin_ads"]["registration_url"] == "https://www.linkedin.com/developers/apps"
    assert presets["linkedin_ads"]["redirect_uri_to_register"] == "{public_url}/v1/flows/callback"
    assert presets["demo"]["needs_client_id"] is False
    assert all(p["needs_client_id"] for pid, p in presets.items() if pid != "demo")
    docs = (EXAMPLE.parents[1] / "docs" / "PROVIDERS.md").read_text()
    for preset in presets.values():
        anchor = preset["docs"].split("#", 1)[1]
        heading = anchor.replace("-", " ")
        assert any(
            line.startswith("## ") and _anchor(line[3:]) == anchor for line in docs.splitlines()
        ), heading


def test_presets_command_in_words() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "backend.cli", "presets"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "linkedin_ads — LinkedIn Ads" in run.stdout
    assert "register the app at: https://developers.facebook.com/apps/" in run.stdout
    assert "a developer token in $GOOGLE_ADS_DEVELOPER_TOKEN" in run.stdout


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(ch for ch in heading.strip().lower() if ch.isalnum() or ch in " -")
    return kept.replace(" ", "-")


def test_connecting_a_provider_the_backend_lacks_says_what_exists_and_how_to_add_one(
    backend_factory: BackendFactory,
) -> None:
    backend = backend_factory(sandbox=True)
    user = sign_in(backend)
    with user.client as api:
        resp = api.post(
            "/v1/flows",
            json={"provider": "meta", "redirect_uri": "http://127.0.0.1:53111/callback"},
        )
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert "no provider called 'meta'" in detail
    assert "it offers Demo Ads (demo)" in detail
    assert "[providers.meta]" in detail
    assert "connected-accounts-backend presets" in detail
    assert "docs/PROVIDERS.md" in detail
