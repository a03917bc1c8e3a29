"""LinkedIn Ads, Microsoft Advertising, Google Ads manager accounts and Meta's precise reasons
inside the real backend, configured from TOML, against the fakes, through the HTTP API only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from backend.db.models import Connection
from tests.backend.conftest import Backend, BackendFactory, SignedIn, sign_in
from tests.fakes.google import GoogleState, create_google_app
from tests.fakes.linkedin import LinkedInState, create_linkedin_app
from tests.fakes.meta import MetaState, create_meta_app, invalidate
from tests.fakes.microsoft import MicrosoftState, create_microsoft_app
from tests.support.servers import UvicornThread, serve

LOOPBACK = "http://127.0.0.1:53998/callback"
FAST = "retry_base_delay_s = 0.001"


def params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def connect_loopback(api: httpx.Client, provider: str) -> dict[str, Any]:
    flow = api.post("/v1/flows", json={"provider": provider, "redirect_uri": LOOPBACK}).json()
    back = params(httpx.get(flow["authorization_url"]).headers["location"])
    body = {"state": back["state"], "code": back["code"]}
    if "iss" in back:
        body["iss"] = back["iss"]
    done = api.post(f"/v1/flows/{flow['flow_id']}/complete", json=body)
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result


def connect_relayed(api: httpx.Client, backend: Backend, provider: str) -> dict[str, Any]:
    flow = api.post("/v1/flows", json={"provider": provider, "redirect_uri": LOOPBACK}).json()
    assert params(flow["authorization_url"])["redirect_uri"] == f"{backend.url}/v1/flows/callback"
    relay = httpx.get(flow["authorization_url"]).headers["location"]
    outcome = params(httpx.get(relay.split("#")[0]).headers["location"])
    assert outcome["result"] == "success", outcome
    # The relay parked the grant; this device claims it with the state and the one-time ticket.
    claim = {"state": outcome["state"], "relay_ticket": outcome["relay_ticket"]}
    done = api.post(f"/v1/flows/{outcome['flow_id']}/complete", json=claim)
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result


def stored(backend: Backend, conn_id: str) -> Any:
    with backend.state.engine.connect() as db:
        return db.execute(select(Connection.__table__).where(Connection.id == conn_id)).one()


@pytest.fixture
def linkedin() -> Iterator[tuple[UvicornThread, LinkedInState]]:
    state = LinkedInState()
    with serve(create_linkedin_app(state)) as server:
        yield server, state


@pytest.fixture
def microsoft() -> Iterator[tuple[UvicornThread, MicrosoftState]]:
    state = MicrosoftState()
    with serve(create_microsoft_app(state)) as server:
        state.base_url = server.url
        yield server, state


@pytest.fixture
def google() -> Iterator[tuple[UvicornThread, GoogleState]]:
    state = GoogleState()
    state.add_agency()
    with serve(create_google_app(state)) as server:
        yield server, state


def test_linkedin_connect_accounts_report_and_disconnect_in_plain_words(
    backend_factory: BackendFactory,
    linkedin: tuple[UvicornThread, LinkedInState],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, state = linkedin
    monkeypatch.setenv("LI_SECRET", state.client_secret)
    backend = backend_factory(
        toml=f"""
[providers.linkedin]
preset = "linkedin_ads"
client_id = "{state.client_id}"
client_secret_env = "LI_SECRET"
authorization_endpoint = "{server.url}/oauth/v2/authorization"
token_endpoint = "{server.url}/oauth/v2/accessToken"
reports = {{ base_url = "{server.url}/rest" }}
{FAST}
""",
        sandbox=False,
    )
    user: SignedIn = sign_in(backend)
    with user.client as api:
        conn = connect_relayed(api, backend, "linkedin")
        assert conn["provider_display_name"] == "LinkedIn Ads"
        # The refresh token's 365 days, from what LinkedIn said at sign-in.
        left = when(conn["expires_at"]) - datetime.now(UTC)
        assert timedelta(days=364) < left <= timedelta(days=365)
        assert "365 days" in conn["expiry_reason"]
        accounts = api.get(f"/v1/connections/{conn['id']}/accounts").json()
        assert [(a["id"], a["currency"]) for a in accounts] == [
            ("502840441", "USD"),
            ("502840442", "EUR"),
        ]
        report = api.get(
            f"/v1/connections/{conn['id']}/reports",
            params={"since": "2026-10-01", "until": "2026-10-07", "level": "campaign"},
        )
        assert report.status_code == 200, report.text
        assert report.json()["rows"]

        gone = api.delete(f"/v1/connections/{conn['id']}")
        assert gone.status_code == 200, gone.text
        body = gone.json()
        assert body["revoked"] == []
        assert body["not_revoked"] == ["refresh_token"]
        assert "https://www.linkedin.com/psettings/permitted-services" in body["message"]
        assert "no way to revoke" in body["message"]
        row = stored(backend, conn["id"])
        assert (row.refresh_ct, row.access_ct, row.status) == (None, None, "disconnected")


def test_microsoft_connect_accounts_report_and_disconnect_in_plain_words(
    backend_factory: BackendFactory,
    microsoft: tuple[UvicornThread, MicrosoftState],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, state = microsoft
    monkeypatch.setenv("MS_SECRET", state.client_secret)
    monkeypatch.setenv("MS_DEV", state.developer_token)
    backend = backend_factory(
        toml=f"""
[providers.microsoft]
preset = "microsoft_ads"
client_id = "{state.client_id}"
client_secret_env = "MS_SECRET"
authorization_endpoint = "{server.url}/common/oauth2/v2.0/authorize"
token_endpoint = "{server.url}/common/oauth2/v2.0/token"
{FAST}

[providers.microsoft.reports]
base_url = "{server.url}"
customer_base_url = "{server.url}"
developer_token_env = "MS_DEV"
poll_interval_s = 0.01
""",
        sandbox=False,
    )
    user: SignedIn = sign_in(backend)
    with user.client as api:
        conn = connect_loopback(api, "microsoft")
        assert conn["display_name"] == "mira@example.com"
        # 90 days from the last use (the last refresh), in words.
        refreshed = when(conn["last_refreshed_at"])
        assert when(conn["expires_at"]) == refreshed + timedelta(days=90)
        assert "unused for 90 days" in conn["expiry_reason"]
        accounts = {a["id"]: a for a in conn["accounts"]}
        assert accounts["180200"]["parent_id"] == "251002"
        report = api.get(
            f"/v1/connections/{conn['id']}/reports",
            params={"account": "180200", "since": "2026-10-01", "until": "2026-10-03"},
        )
        assert report.status_code == 200, report.text
        assert len(report.json()["rows"]) == 3
        assert report.json()["account"]["currency"] == "EUR"

        gone = api.delete(f"/v1/connections/{conn['id']}").json()
        assert gone["not_revoked"] == ["refresh_token"]
        assert "account.live.com/consent/Manage" in gone["message"]


def test_google_manager_accounts_carry_their_hierarchy_and_reports_use_it(
    backend_factory: BackendFactory,
    google: tuple[UvicornThread, GoogleState],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, state = google
    monkeypatch.setenv("G_SECRET", state.client_secret)
    monkeypatch.setenv("G_DEV", state.developer_token)
    backend = backend_factory(
        toml=f"""
[providers.google]
preset = "google_ads"
publishing_status = "testing"
client_id = "{state.client_id}"
client_secret_env = "G_SECRET"
authorization_endpoint = "{server.url}/o/oauth2/v2/auth"
token_endpoint = "{server.url}/token"
revocation_endpoint = "{server.url}/revoke"
userinfo_endpoint = "{server.url}/v1/userinfo"
jwks_uri = "{server.url}/oauth2/v3/certs"
reports = {{ base_url = "{server.url}", developer_token_env = "G_DEV" }}
{FAST}
""",
        sandbox=False,
    )
    user: SignedIn = sign_in(backend)
    with user.client as api:
        conn = connect_loopback(api, "google")
        # An app in testing mode: Google ends the grant after 7 days.
        left = when(conn["expires_at"]) - datetime.now(UTC)
        assert timedelta(days=6, hours=23) < left <= timedelta(days=7)
        assert "testing mode" in conn["expiry_reason"]
        accounts = {a["id"]: a for a in api.get(f"/v1/connections/{conn['id']}/accounts").json()}
        assert accounts["9990001111"] | {"name": "", "time_zone": ""} == {
            "id": "9990001111",
            "name": "",
            "currency": "USD",
            "time_zone": "",
            "parent_id": None,
            "is_manager": True,
            "login_customer_id": None,
        }
        assert (
            accounts["5550002222"]["parent_id"],
            accounts["5550002222"]["is_manager"],
            accounts["5550002222"]["login_customer_id"],
        ) == ("9990001111", False, "9990001111")
        assert accounts["1112223333"]["login_customer_id"] is None

        report = api.get(
            f"/v1/connections/{conn['id']}/reports",
            params={"account": "5550002222", "since": "2026-10-01", "until": "2026-10-02"},
        )
        assert report.status_code == 200, report.text
        sent = [h for _, p, h in state.requests if p.endswith("5550002222/googleAds:searchStream")]
        assert sent[-1]["login-customer-id"] == "9990001111"
        manager = api.get(
            f"/v1/connections/{conn['id']}/reports",
            params={"account": "9990001111", "since": "2026-10-01", "until": "2026-10-02"},
        )
        assert manager.status_code == 422
        assert "manager account" in manager.json()["detail"]


def test_meta_password_change_is_stored_as_the_reconnect_reason(
    backend_factory: BackendFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = MetaState()
    monkeypatch.setenv("META_SECRET", state.app_secret)
    with serve(create_meta_app(state)) as meta:
        backend = backend_factory(
            toml=f"""
[providers.meta]
preset = "meta"
client_id = "{state.app_id}"
client_secret_env = "META_SECRET"
authorization_endpoint = "{meta.url}/v23.0/dialog/oauth"
reports = {{ base_url = "{meta.url}/v23.0" }}
{FAST}
""",
            sandbox=False,
        )
        user: SignedIn = sign_in(backend)
        with user.client as api:
            conn = connect_relayed(api, backend, "meta")
            assert "60 days" in conn["expiry_reason"]
            invalidate(state, 460)
            report = api.get(
                f"/v1/connections/{conn['id']}/reports",
                params={"since": "2026-11-01", "until": "2026-11-02"},
            )
            sentence = "You changed your Facebook password; reconnect to allow access again."
            assert report.status_code == 409, report.text
            assert report.json()["detail"] == sentence
            again = api.get(f"/v1/connections/{conn['id']}").json()
            assert (again["status"], again["status_reason"]) == ("needs_reconnect", sentence)
