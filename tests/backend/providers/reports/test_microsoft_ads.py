"""The microsoft_ads preset against a fake Microsoft identity platform + Advertising API v13
(tests/fakes/microsoft.py names the documents and the SDK it follows)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date
from decimal import Decimal

import pytest

from backend.providers.base import (
    AccessTokenRejected,
    InvalidGrant,
    Provider,
    ProviderRequestError,
    ReportQuery,
    RevocationUnsupported,
    TokenSet,
)
from backend.secret import Secret
from tests.backend.providers.conftest import LOOPBACK, build, follow_consent, new_pkce, query_of
from tests.fakes.microsoft import MicrosoftState, create_microsoft_app
from tests.support.servers import UvicornThread, serve

pytestmark = pytest.mark.anyio

Microsoft = tuple[UvicornThread, MicrosoftState]


@pytest.fixture
def microsoft() -> Iterator[Microsoft]:
    state = MicrosoftState()
    with serve(create_microsoft_app(state)) as server:
        state.base_url = server.url
        yield server, state


def microsoft_table(server: UvicornThread, state: MicrosoftState) -> dict[str, object]:
    return {
        "preset": "microsoft_ads",
        "client_id": state.client_id,
        "client_secret_env": "MS_SECRET",
        "authorization_endpoint": f"{server.url}/common/oauth2/v2.0/authorize",
        "token_endpoint": f"{server.url}/common/oauth2/v2.0/token",
        "reports": {
            "base_url": server.url,
            "customer_base_url": server.url,
            "developer_token_env": "MS_DEV",
            "poll_interval_s": 0.01,
        },
    }


@pytest.fixture
async def provider(microsoft: Microsoft) -> AsyncIterator[Provider]:
    server, state = microsoft
    env = {"MS_SECRET": state.client_secret, "MS_DEV": state.developer_token}
    built = await build("microsoft", microsoft_table(server, state), env=env)
    yield built
    await built.aclose()


async def connect(provider: Provider) -> TokenSet:
    pkce = new_pkce()
    url = provider.authorization_url(
        redirect_uri=LOOPBACK, state="st", code_challenge=pkce.challenge, nonce=None
    )
    back = follow_consent(url)
    return await provider.redeem_code(
        code=Secret(back["code"]), redirect_uri=LOOPBACK, code_verifier=pkce.verifier
    )


async def test_consent_asks_for_msads_manage_and_offline_access_on_loopback(
    provider: Provider,
) -> None:
    assert provider.redirect_mode == "loopback"
    q = query_of(
        provider.authorization_url(
            redirect_uri=LOOPBACK, state="st", code_challenge="ch", nonce=None
        )
    )
    assert q["scope"] == "https://ads.microsoft.com/msads.manage offline_access"
    assert q["code_challenge_method"] == "S256"
    assert provider.lapse is not None
    assert (provider.lapse.kind, provider.lapse.days) == ("unused", 90)


async def test_refresh_rotates_the_refresh_token(provider: Provider) -> None:
    tokens = await connect(provider)
    assert tokens.refresh_token is not None
    refreshed = await provider.refresh(tokens.refresh_token)
    assert refreshed.refresh_token is not None
    assert refreshed.refresh_token != tokens.refresh_token
    with pytest.raises(InvalidGrant) as caught:  # the spent one is gone
        await provider.refresh(tokens.refresh_token)
    assert caught.value.reason is not None
    assert "unused for 90 days" in caught.value.reason


async def test_identity_from_get_user_and_accounts_from_search_accounts(
    microsoft: Microsoft, provider: Provider
) -> None:
    _, state = microsoft
    tokens = await connect(provider)
    identity = await provider.identify(tokens)
    assert (identity.subject, identity.display_name) == ("141337", "mira@example.com")
    assert [(a.id, a.currency, a.time_zone, a.parent_id) for a in identity.accounts] == [
        ("180100", "USD", "America/New_York", "251001"),
        ("180200", "EUR", "Europe/Berlin", "251002"),
    ]
    sent = [h for _, p, h in state.requests if p.endswith("/Accounts/Search")]
    assert sent[-1]["developertoken"] == state.developer_token


async def test_report_cycle_submit_poll_download_with_account_headers(
    microsoft: Microsoft, provider: Provider
) -> None:
    _, state = microsoft
    tokens = await connect(provider)
    query = ReportQuery(
        "180200", date(2026, 10, 1), date(2026, 10, 31), "campaign", parent_id="251002"
    )
    rows = await provider.fetch_report(tokens.access_token, query)
    expected = state.report_rows("180200", query.since, query.until, True)
    assert len(rows) == len(expected) == 62
    assert sum(r.spend for r in rows) == sum(Decimal(e["Spend"]) for e in expected)
    assert sum(r.impressions for r in rows) == sum(int(e["Impressions"]) for e in expected)
    assert {(r.campaign_id, r.campaign_name) for r in rows} == {
        ("7001", "Brand 1"),
        ("7002", "Brand 2"),
    }
    paths = [p for _, p, _ in state.requests]
    assert paths.count("/Reporting/v13/GenerateReport/Poll") == state.polls_before_done + 1
    submit = [h for _, p, h in state.requests if p.endswith("/GenerateReport/Submit")][-1]
    assert (submit["customerid"], submit["customeraccountid"]) == ("251002", "180200")
    assert submit["developertoken"] == state.developer_token
    blob = [h for _, p, h in state.requests if p.startswith("/blob/")][-1]
    assert "authorization" not in blob  # the download URL never gets our token
    assert "developertoken" not in blob


async def test_a_range_without_activity_is_an_empty_report(
    microsoft: Microsoft, provider: Provider
) -> None:
    _, state = microsoft
    state.quiet.add("180100")
    tokens = await connect(provider)
    query = ReportQuery("180100", date(2026, 10, 1), date(2026, 10, 2), parent_id="251001")
    assert await provider.fetch_report(tokens.access_token, query) == []


async def test_wrong_customer_id_is_refused_in_words(provider: Provider) -> None:
    tokens = await connect(provider)
    query = ReportQuery("180100", date(2026, 10, 1), date(2026, 10, 2), parent_id="999")
    with pytest.raises(ProviderRequestError, match="UserIsNotAuthorized"):
        await provider.fetch_report(tokens.access_token, query)


async def test_a_stale_access_token_is_access_token_rejected(provider: Provider) -> None:
    with pytest.raises(AccessTokenRejected):
        await provider.list_accounts(Secret("EwB-stale"))


async def test_revocation_is_refused_in_plain_words_and_consent_removal_is_a_precise_reason(
    microsoft: Microsoft, provider: Provider
) -> None:
    _, state = microsoft
    tokens = await connect(provider)
    assert tokens.refresh_token is not None
    with pytest.raises(RevocationUnsupported) as caught:
        await provider.revoke(tokens.refresh_token)
    assert "account.live.com/consent/Manage" in str(caught.value)
    state.remove_app()
    with pytest.raises(InvalidGrant) as dead:
        await provider.refresh(tokens.refresh_token)
    assert dead.value.reason is not None
    assert "consent to this app was withdrawn" in dead.value.reason
