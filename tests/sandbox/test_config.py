"""The `[sandbox]` TOML table becomes a SandboxConfig the running sandbox obeys."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from backend.sandbox.config import SandboxConfig
from tests.sandbox.conftest import start
from tests.support.browser import play_consent

TOML = """
[sandbox]
seed = 7
admin_api = true
state_file = "demo-state.json"

[sandbox.faults]
access_token_lifetime = 120

[sandbox.clients.demo-desktop]
redirect_uris = ["http://127.0.0.1:8765/v1/flows/callback"]

[sandbox.clients.partner]
client_secret = "partner-secret"
name = "Partner Tool"
allow_loopback = false
redirect_uris = ["https://partner.example/cb"]
"""


def table() -> dict[str, object]:
    return dict(tomllib.loads(TOML)["sandbox"])


def test_defaults_are_the_documented_ones() -> None:
    config = SandboxConfig.from_toml_table({})
    client = config.client("demo-desktop")
    assert client is not None
    assert client.client_secret == "demo-secret"
    assert client.allow_loopback
    assert [u.name for u in config.users] == ["Dana Demo", "Sam Sample"]
    assert config.user("user-1001") is not None
    assert config.admin_api is False
    assert config.state_file is None


def test_toml_table_merges_onto_the_default_client_and_adds_others() -> None:
    config = SandboxConfig.from_toml_table(table())
    assert config.seed == 7
    assert config.admin_api is True
    assert config.state_file == Path("demo-state.json")
    demo = config.client("demo-desktop")
    partner = config.client("partner")
    assert demo is not None
    assert partner is not None
    assert demo.client_secret == "demo-secret"  # kept from the default
    assert demo.redirect_uris == ["http://127.0.0.1:8765/v1/flows/callback"]
    assert demo.faults.access_token_lifetime == 120
    assert partner.name == "Partner Tool"
    assert not partner.allow_loopback


def test_clients_as_an_array_of_tables_work_too() -> None:
    config = SandboxConfig.from_toml_table(
        {"clients": [{"client_id": "x", "client_secret": "y"}], "users": []}
    )
    assert [c.client_id for c in config.clients] == ["demo-desktop", "x"]
    assert config.users == []


def test_a_misspelt_knob_is_an_error_not_silence() -> None:
    with pytest.raises(ValidationError):
        SandboxConfig.from_toml_table({"admin_apj": True})
    with pytest.raises(ValidationError):
        SandboxConfig.from_toml_table({"faults": {"latency": 5}})


def test_a_sandbox_built_from_toml_obeys_it(tmp_path: Path) -> None:
    config = SandboxConfig.from_toml_table(table())
    config.state_file = tmp_path / "state.json"
    for box in start(config):
        page = box.http.get(box.authorize_url(client_id="partner"))
        assert page.status_code == 400  # loopback is off for the partner
        location = play_consent(
            box.authorize_url(client_id="partner", redirect_uri="https://partner.example/cb")
        )
        assert location.startswith("https://partner.example/cb?code=")
        assert (
            "Partner Tool"
            in box.http.get(
                box.authorize_url(client_id="partner", redirect_uri="https://partner.example/cb")
            ).text
        )
        assert box.connect()["expires_in"] == 120
