"""The meta preset against a fake Facebook Login + Graph API on loopback."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from backend.providers.base import (
    InvalidGrant,
    Provider,
    ProviderRequestError,
    RateLimited,
    ReportQuery,
    TokenSet,
)
from backend.secret import Secret
from tests.backend.providers.conftest import (
    LOOPBACK,
    PUBLIC_URL,
    build,
    follow_consent,
    new_pkce,
    query_of,
)
from tests.fakes.meta import LONG_LIVED_S, MetaState
from tests.support.servers import UvicornThread

pytestmark = pytest.mark.anyio

Meta = tuple[UvicornThread, MetaState]
RELAY = f"{PUBLIC_URL}/v1/flows/callback"


async def connect(provider: Provider) -> TokenSet:
    pkce = new_pkce()
    redirect = provider.provider_redirect_uri(LOOPBACK)
    url = provider.authorization_url(
        redirect_uri=redirect, state="st", code_challenge=pkce.challenge, nonce=None
    )
    back = follow_consent(url)
    return await provider.redeem_code(
        code=Secret(back["code"]), redirect_uri=redirect, code_verifier=pkce.verifier
    )


async def test_login_dialog_url_relays_through_the_backend_with_pkce(
    meta: Meta, meta_provider: Provider
) -> None:
    server, state = meta
    assert meta_provider.redirect_mode == "backend"
    assert meta_provider.provider_redirect_uri(LOOPBACK) == RELAY
    url = meta_provider.authorization_url(
        redirect_uri=RELAY, state="st", code_challenge="ch", nonce=None
    )
    assert url.startswith(f"{server.url}/v23.0/dialog/oauth?")
    q = query_of(url)
    assert q["client_id"] == state.app_id
    assert q["redirect_uri"] == RELAY
    assert q["state"] == "st"
    assert (q["code_challenge"], q["code_challenge_method"]) == ("ch", "S256")
    assert q["scope"] == "ads_read"
    assert meta_provider.max_report_days == 1095


async def test_code_becomes_a_long_lived_token_stored_as_the_refresh_token(
    meta: Meta, meta_provider: Provider
) -> None:
    _, state = meta
    tokens = await connect(meta_provider)
    assert tokens.refresh_token == tokens.access_token
    stored = state.tokens[tokens.access_token.reveal()]
    assert stored.kind == "long"  # not the short-lived one from the code
    assert tokens.scope == ["ads_read"]
    assert tokens.expires_in is not None
    assert 3500 <= tokens.expires_in <= 3600


async def test_identity_carries_the_expiry_from_debug_token(
    meta: Meta, meta_provider: Provider
) -> None:
    _, state = meta
    tokens = await connect(meta_provider)
    identity = await meta_provider.identify(tokens)
    assert (identity.subject, identity.display_name) == ("10150", "Mia Meta")
    assert [a.id for a in identity.accounts] == [f"act_{1000 + i}" for i in range(5)]  # 3 pages
    assert identity.accounts[1].currency == "JPY"
    assert identity.accounts[0].time_zone == "Europe/Berlin"
    assert identity.expires_at is not None
    expected = datetime.now(UTC) + timedelta(seconds=LONG_LIVED_S)
    assert abs((identity.expires_at - expected).total_seconds()) < 60


async def test_refresh_checks_the_token_and_keeps_it(meta: Meta, meta_provider: Provider) -> None:
    tokens = await connect(meta_provider)
    assert tokens.refresh_token is not None
    refreshed = await meta_provider.refresh(tokens.refresh_token)
    assert refreshed.access_token == tokens.refresh_token
    assert refreshed.refresh_token is None


async def test_expired_long_lived_token_needs_reconnecting(
    meta: Meta, meta_provider: Provider
) -> None:
    _, state = meta
    tokens = await connect(meta_provider)
    assert tokens.refresh_token is not None
    state.tokens[tokens.refresh_token.reveal()].expires_at = 1
    with pytest.raises(InvalidGrant) as caught:
        await meta_provider.refresh(tokens.refresh_token)
    assert str(caught.value) == (
        "Meta Ads says this grant was revoked or has expired — reconnect to keep reports flowing."
    )


async def test_a_used_code_is_a_dead_grant(meta: Meta, meta_provider: Provider) -> None:
    pkce = new_pkce()
    url = meta_provider.authorization_url(
        redirect_uri=RELAY, state="s", code_challenge=pkce.challenge, nonce=None
    )
    code = Secret(follow_consent(url)["code"])
    await meta_provider.redeem_code(code=code, redirect_uri=RELAY, code_verifier=pkce.verifier)
    with pytest.raises(InvalidGrant, match="sign-in code"):
        await meta_provider.redeem_code(code=code, redirect_uri=RELAY, code_verifier=pkce.verifier)


async def test_insights_paging_is_followed_to_the_end_with_string_metrics(
    meta: Meta, meta_provider: Provider
) -> None:
    _, state = meta
    tokens = await connect(meta_provider)
    query = ReportQuery("act_1000", date(2026, 11, 1), date(2026, 11, 7), "campaign")
    rows = await meta_provider.fetch_report(tokens.access_token, query)
    expected = state.insights("act_1000", query.since, query.until, "campaign")
    assert len(rows) == len(expected) == 21  # page size 2: eleven pages
    assert state.hits["/v23.0/act_1000/insights"] == 11
    assert sum(r.spend for r in rows) == sum(Decimal(e["spend"]) for e in expected)
    assert sum(r.impressions for r in rows) == sum(int(e["impressions"]) for e in expected)
    # conversions: only the one configured action type (Meta's pixel purchase by default)
    assert sum(r.conversions for r in rows) == sum(
        int(a["value"])
        for e in expected
        for a in e["actions"]
        if a["action_type"] == "offsite_conversion.fb_pixel_purchase"
    )
    assert {r.campaign_name for r in rows} == {"Campaign C", "Campaign B", "Campaign A"}
    assert all(isinstance(r.spend, Decimal) for r in rows)


async def test_account_level_rows_have_no_campaign(meta: Meta, meta_provider: Provider) -> None:
    tokens = await connect(meta_provider)
    query = ReportQuery("1001", date(2026, 11, 1), date(2026, 11, 3), "account")
    rows = await meta_provider.fetch_report(tokens.access_token, query)
    assert [r.date for r in rows] == [date(2026, 11, d) for d in (1, 2, 3)]
    assert all(r.campaign_id is None and r.campaign_name is None for r in rows)


async def test_graph_throttling_codes_are_rate_limited(meta: Meta, meta_provider: Provider) -> None:
    _, state = meta
    tokens = await connect(meta_provider)
    usage = {"1000": [{"type": "ads_insights", "estimated_time_to_regain_access": 3}]}
    state.fail_next(
        "/v23.0/act_1000/insights",
        400,
        body={
            "error": {"message": "User request limit reached", "code": 17, "type": "OAuthException"}
        },
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    query = ReportQuery("act_1000", date(2026, 11, 1), date(2026, 11, 2))
    with pytest.raises(RateLimited) as caught:
        await meta_provider.fetch_report(tokens.access_token, query)
    assert caught.value.retry_after == 180
    assert state.hits["/v23.0/act_1000/insights"] == 1  # not hammered


async def test_graph_5xx_is_retried(meta: Meta, meta_provider: Provider) -> None:
    _, state = meta
    tokens = await connect(meta_provider)
    state.fail_next("/v23.0/act_1000/insights", 500, times=2)
    query = ReportQuery("act_1000", date(2026, 11, 1), date(2026, 11, 1))
    assert len(await meta_provider.fetch_report(tokens.access_token, query)) == 1


async def test_range_over_the_limit_is_refused_in_words(meta_provider: Provider) -> None:
    query = ReportQuery("act_1000", date(2020, 1, 1), date(2026, 1, 1))
    with pytest.raises(ProviderRequestError, match="at most 1095 days"):
        await meta_provider.fetch_report(Secret("x"), query)


async def test_revoking_deletes_the_permissions_and_meta_rejects_the_token(
    meta: Meta, meta_provider: Provider
) -> None:
    _, state = meta
    tokens = await connect(meta_provider)
    assert tokens.refresh_token is not None
    await meta_provider.revoke(tokens.refresh_token)
    assert ("DELETE", "/v23.0/me/permissions") in [(m, p) for m, p, _ in state.requests]
    with pytest.raises(InvalidGrant):
        await meta_provider.refresh(tokens.refresh_token)
    with pytest.raises(InvalidGrant):
        await meta_provider.list_accounts(tokens.access_token)
    await meta_provider.revoke(tokens.refresh_token)  # already gone: still success


async def test_bearer_tokens_never_travel_in_urls(meta: Meta, meta_provider: Provider) -> None:
    _, state = meta
    tokens = await connect(meta_provider)
    await meta_provider.identify(tokens)
    await meta_provider.fetch_report(
        tokens.access_token, ReportQuery("act_1000", date(2026, 11, 1), date(2026, 11, 9))
    )
    for _, path, _headers in state.requests:
        assert tokens.access_token.reveal() not in path
        assert state.app_secret not in path
    api = [h for _, p, h in state.requests if p.endswith("/insights")]
    assert all(h["authorization"] == f"Bearer {tokens.access_token.reveal()}" for h in api)


async def test_a_wrong_app_secret_blames_the_configuration_not_the_grant(meta: Meta) -> None:
    server, state = meta
    provider = await build(
        "meta",
        {
            "preset": "meta",
            "client_id": state.app_id,
            "client_secret": "wrong",
            "authorization_endpoint": f"{server.url}/v23.0/dialog/oauth",
            "reports": {"base_url": f"{server.url}/v23.0"},
        },
    )
    try:
        with pytest.raises(ProviderRequestError, match="app credentials"):
            await connect(provider)
        with pytest.raises(ProviderRequestError, match="app credentials"):
            await provider.refresh(Secret("EAAsomething"))
    finally:
        await provider.aclose()


async def test_insights_paging_stops_at_the_page_cap(meta: Meta) -> None:
    """Issue 14 point 13: provider paging has a page cap; past it the report is refused in
    words instead of being followed page after page."""
    server, state = meta
    capped = await build(
        "meta",
        {
            "preset": "meta",
            "client_id": state.app_id,
            "client_secret_env": "META_SECRET",
            "authorization_endpoint": f"{server.url}/v23.0/dialog/oauth",
            "reports": {"base_url": f"{server.url}/v23.0", "page_size": 2, "max_pages": 3},
        },
        env={"META_SECRET": state.app_secret},
    )
    try:
        tokens = await connect(capped)
        query = ReportQuery("act_1000", date(2026, 11, 1), date(2026, 11, 7), "campaign")
        with pytest.raises(ProviderRequestError, match="narrow the dates or the level"):
            await capped.fetch_report(tokens.access_token, query)
        assert state.hits["/v23.0/act_1000/insights"] == 4  # the fourth page was one too many
    finally:
        await capped.aclose()
