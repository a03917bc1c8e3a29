"""The linkedin_ads preset against a fake LinkedIn (tests/fakes/linkedin.py names the documents)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date
from decimal import Decimal

import pytest

from backend.providers.base import (
    InvalidGrant,
    Provider,
    ProviderRequestError,
    ReportQuery,
    RevocationUnsupported,
    TokenSet,
)
from backend.secret import Secret
from tests.backend.providers.conftest import PUBLIC_URL, build, follow_consent, new_pkce, query_of
from tests.fakes.linkedin import ACCESS_S, REFRESH_S, LinkedInState, create_linkedin_app
from tests.support.servers import UvicornThread, serve

pytestmark = pytest.mark.anyio

LinkedIn = tuple[UvicornThread, LinkedInState]
RELAY = f"{PUBLIC_URL}/v1/flows/callback"


@pytest.fixture
def linkedin() -> Iterator[LinkedIn]:
    state = LinkedInState()
    with serve(create_linkedin_app(state)) as server:
        yield server, state


def linkedin_table(server: UvicornThread, state: LinkedInState) -> dict[str, object]:
    return {
        "preset": "linkedin_ads",
        "client_id": state.client_id,
        "client_secret_env": "LI_SECRET",
        "authorization_endpoint": f"{server.url}/oauth/v2/authorization",
        "token_endpoint": f"{server.url}/oauth/v2/accessToken",
        "reports": {"base_url": f"{server.url}/rest"},
    }


@pytest.fixture
async def provider(linkedin: LinkedIn) -> AsyncIterator[Provider]:
    server, state = linkedin
    built = await build(
        "linkedin", linkedin_table(server, state), env={"LI_SECRET": state.client_secret}
    )
    yield built
    await built.aclose()


async def connect(provider: Provider) -> TokenSet:
    pkce = new_pkce()
    redirect = provider.provider_redirect_uri("http://127.0.0.1:53117/callback")
    url = provider.authorization_url(
        redirect_uri=redirect, state="st", code_challenge=pkce.challenge, nonce=None
    )
    back = follow_consent(url)
    return await provider.redeem_code(
        code=Secret(back["code"]), redirect_uri=redirect, code_verifier=pkce.verifier
    )


async def test_consent_asks_for_ads_scopes_and_returns_to_the_backend_relay(
    provider: Provider,
) -> None:
    assert provider.redirect_mode == "backend"
    url = provider.authorization_url(
        redirect_uri=RELAY, state="st", code_challenge="ch", nonce=None
    )
    q = query_of(url)
    assert q["scope"] == "r_ads r_ads_reporting"
    assert q["redirect_uri"] == RELAY
    assert (q["response_type"], q["code_challenge_method"]) == ("code", "S256")


async def test_connect_records_60_day_access_and_365_day_refresh_tokens(
    provider: Provider,
) -> None:
    tokens = await connect(provider)
    assert tokens.refresh_token is not None
    assert tokens.expires_in == ACCESS_S
    assert tokens.refresh_expires_in is not None
    assert REFRESH_S - 60 <= tokens.refresh_expires_in <= REFRESH_S
    assert tokens.scope == ["r_ads", "r_ads_reporting"]  # comma-separated on the wire
    assert provider.lapse is not None
    assert (provider.lapse.kind, provider.lapse.days) == ("fixed", 365)


async def test_refresh_keeps_the_refresh_tokens_original_end(
    linkedin: LinkedIn, provider: Provider
) -> None:
    _, state = linkedin
    tokens = await connect(provider)
    assert tokens.refresh_token is not None
    state.clock += 59 * 86_400  # day 59: the refresh token has 306 days left
    refreshed = await provider.refresh(tokens.refresh_token)
    assert refreshed.expires_in == ACCESS_S
    assert refreshed.refresh_expires_in is not None
    assert abs(refreshed.refresh_expires_in - 306 * 86_400) < 60


async def test_identity_and_accounts_from_ad_account_users(
    linkedin: LinkedIn, provider: Provider
) -> None:
    _, state = linkedin
    tokens = await connect(provider)
    identity = await provider.identify(tokens)
    assert identity.subject == state.member
    assert [(a.id, a.name, a.currency, a.time_zone) for a in identity.accounts] == [
        ("502840441", "Acme B2B", "USD", "UTC"),
        ("502840442", "Acme DACH", "EUR", "UTC"),
    ]
    users = [h for _, p, h in state.requests if p == "/rest/adAccountUsers"]
    assert users[-1]["linkedin-version"] == "202511"
    assert users[-1]["x-restli-protocol-version"] == "2.0.0"


async def test_campaign_report_from_ad_analytics_with_names(
    linkedin: LinkedIn, provider: Provider
) -> None:
    _, state = linkedin
    tokens = await connect(provider)
    query = ReportQuery("502840441", date(2026, 10, 1), date(2026, 10, 31), "campaign")
    rows = await provider.fetch_report(tokens.access_token, query)
    expected = state.analytics("502840441", query.since, query.until, True)
    assert len(rows) == len(expected)
    assert sum(r.spend for r in rows) == sum(Decimal(e["costInLocalCurrency"]) for e in expected)
    assert sum(r.conversions for r in rows) == sum(
        e["externalWebsiteConversions"] for e in expected
    )
    assert {(r.campaign_id, r.campaign_name) for r in rows} == {
        ("1001", "Decision makers"),
        ("1002", "Retarget"),
    }
    assert rows == sorted(rows, key=lambda r: (r.date, r.campaign_id or ""))
    account_rows = await provider.fetch_report(
        tokens.access_token, ReportQuery("502840442", date(2026, 10, 1), date(2026, 10, 3))
    )
    assert all(r.campaign_id is None for r in account_rows)
    assert account_rows


async def test_revocation_is_refused_in_plain_words_naming_where_to_remove_the_app(
    provider: Provider,
) -> None:
    tokens = await connect(provider)
    assert tokens.refresh_token is not None
    with pytest.raises(RevocationUnsupported) as caught:
        await provider.revoke(tokens.refresh_token)
    assert "https://www.linkedin.com/psettings/permitted-services" in str(caught.value)
    assert caught.value.manage_access_url == "https://www.linkedin.com/psettings/permitted-services"


async def test_removed_app_is_a_dead_grant_with_a_precise_reason(
    linkedin: LinkedIn, provider: Provider
) -> None:
    _, state = linkedin
    tokens = await connect(provider)
    assert tokens.refresh_token is not None
    state.remove_app()
    with pytest.raises(InvalidGrant) as api_refusal:
        await provider.list_accounts(tokens.access_token)
    assert api_refusal.value.reason is not None
    assert "removed this app's access" in api_refusal.value.reason
    with pytest.raises(InvalidGrant) as refresh_refusal:
        await provider.refresh(tokens.refresh_token)
    assert refresh_refusal.value.reason is not None
    assert "365 days" in refresh_refusal.value.reason


async def test_a_grant_without_reporting_scope_is_told_what_to_allow(
    linkedin: LinkedIn, provider: Provider
) -> None:
    _, state = linkedin
    tokens = await connect(provider)
    for grant in state.access_tokens.values():
        grant.scope = "r_ads"
    query = ReportQuery("502840441", date(2026, 10, 1), date(2026, 10, 2))
    with pytest.raises(ProviderRequestError, match="r_ads_reporting"):
        await provider.fetch_report(tokens.access_token, query)
