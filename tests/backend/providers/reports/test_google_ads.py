"""The google_ads preset against a fake Google OAuth + Google Ads REST API on loopback."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from backend.providers.base import (
    AccessTokenRejected,
    AdAccount,
    InvalidGrant,
    Level,
    Provider,
    ProviderRequestError,
    RateLimited,
    ReportQuery,
    TokenSet,
)
from backend.providers.registry import build_provider
from backend.reports.normalize import normalize_report
from backend.secret import Secret
from tests.backend.providers.conftest import (
    FAST_RETRIES,
    LOOPBACK,
    PUBLIC_URL,
    build,
    follow_consent,
    new_pkce,
    query_of,
)
from tests.fakes.google import API_VERSION, ISSUER, GoogleState
from tests.support.servers import UvicornThread

pytestmark = pytest.mark.anyio

Google = tuple[UvicornThread, GoogleState]
STREAM = f"/{API_VERSION}/customers/1112223333/googleAds:searchStream"


async def connect(provider: Provider, nonce: str = "n-1") -> tuple[TokenSet, dict[str, str]]:
    pkce = new_pkce()
    url = provider.authorization_url(
        redirect_uri=LOOPBACK, state="st", code_challenge=pkce.challenge, nonce=nonce
    )
    back = follow_consent(url)
    tokens = await provider.redeem_code(
        code=Secret(back["code"]), redirect_uri=LOOPBACK, code_verifier=pkce.verifier
    )
    return tokens, back


async def test_consent_url_asks_for_offline_access_with_pkce_and_nonce(
    google: Google, google_provider: Provider
) -> None:
    server, state = google
    url = google_provider.authorization_url(
        redirect_uri=LOOPBACK, state="st", code_challenge="ch", nonce="nn"
    )
    assert url.startswith(f"{server.url}/o/oauth2/v2/auth?")
    q = query_of(url)
    assert q["access_type"] == "offline"
    assert q["prompt"] == "consent"
    assert q["include_granted_scopes"] == "true"
    assert (q["code_challenge"], q["code_challenge_method"]) == ("ch", "S256")
    assert q["nonce"] == "nn"
    assert q["scope"] == "openid email https://www.googleapis.com/auth/adwords"
    assert q["client_id"] == state.client_id
    assert google_provider.issuer == ISSUER
    assert google_provider.redirect_mode == "loopback"


async def test_callback_iss_matches_the_provider_issuer(google_provider: Provider) -> None:
    _, back = await connect(google_provider)
    assert back["iss"] == google_provider.issuer  # what the flow compares (RFC 9207)


async def test_code_redeemed_and_identity_from_the_id_token(
    google: Google, google_provider: Provider
) -> None:
    tokens, _ = await connect(google_provider)
    assert tokens.refresh_token is not None
    assert tokens.expires_in == 3599
    identity = await google_provider.identify(tokens)
    assert identity.subject == "1171"
    assert identity.display_name == "gina@example.com"
    # the closed customer (reachable only through a manager) is left out, not an error
    assert [(a.id, a.currency, a.time_zone) for a in identity.accounts] == [
        ("1112223333", "EUR", "Europe/Paris"),
        ("4445556666", "JPY", "Asia/Tokyo"),
    ]


async def test_login_customer_id_reaches_accounts_behind_a_manager(google: Google) -> None:
    server, state = google
    provider = await build_provider(
        "google",
        {
            **FAST_RETRIES,
            "preset": "google_ads",
            "client_id": state.client_id,
            "client_secret_env": "G_SECRET",
            "authorization_endpoint": f"{server.url}/o/oauth2/v2/auth",
            "token_endpoint": f"{server.url}/token",
            "jwks_uri": f"{server.url}/oauth2/v3/certs",
            "reports": {
                "base_url": server.url,
                "developer_token_env": "G_DEV",
                "login_customer_id": "000-000-0000",
            },
        },
        env={"G_SECRET": state.client_secret, "G_DEV": state.developer_token},
        public_url=PUBLIC_URL,
        sandbox_url=None,
    )
    try:
        tokens, _ = await connect(provider)
        accounts = await provider.list_accounts(tokens.access_token)
        assert "7778889999" in [a.id for a in accounts]
        sent = [h for _, p, h in state.requests if p.endswith("7778889999/googleAds:searchStream")]
        assert sent[-1]["login-customer-id"] == "0000000000"
    finally:
        await provider.aclose()


async def test_refresh_keeps_the_refresh_token_google_does_not_rotate(
    google_provider: Provider,
) -> None:
    tokens, _ = await connect(google_provider)
    assert tokens.refresh_token is not None
    refreshed = await google_provider.refresh(tokens.refresh_token)
    assert refreshed.refresh_token is None
    assert refreshed.access_token != tokens.access_token


async def test_report_turns_cost_micros_into_money_across_batches(
    google: Google, google_provider: Provider
) -> None:
    _, state = google
    tokens, _ = await connect(google_provider)
    query = ReportQuery("111-222-3333", date(2026, 10, 1), date(2026, 10, 31), "campaign")
    rows = await google_provider.fetch_report(tokens.access_token, query)
    expected = state.rows("1112223333", query.since, query.until, True)
    assert len(rows) == len(expected) == 62  # nine batches of seven
    micros = sum(int(e["metrics"].get("costMicros", "0")) for e in expected)
    assert sum(r.spend for r in rows) == Decimal(micros) / Decimal(1_000_000)
    assert all(r.spend == r.spend.quantize(Decimal("0.000001")) for r in rows)
    assert sum(r.impressions for r in rows) == sum(
        int(e["metrics"].get("impressions", 0)) for e in expected
    )
    assert {r.campaign_id for r in rows} == {"900", "901"}
    # zero metrics are absent from Google's JSON and read as 0
    assert any(r.clicks == 0 for r in rows)
    # metrics.conversions is a double (modelled conversions): kept exact as a decimal
    by_key = {(r.date, r.campaign_id): r for r in rows}
    for e in expected:
        conv = e["metrics"].get("conversions", 0)
        row = by_key[(date.fromisoformat(e["segments"]["date"]), e["campaign"]["id"])]
        assert row.conversions_exact == Decimal(str(conv))


async def test_daily_campaign_report_keeps_fractional_conversions_as_decimals(
    google: Google, google_provider: Provider
) -> None:
    """The classic daily account/campaign report (issue 16: metrics.conversions stays decimal).

    Google Ads API reference, Metrics: `conversions` and `conversions_value` are doubles.
    """
    _, state = google
    tokens, _ = await connect(google_provider)
    account = AdAccount("1112223333", "Search", "USD", "UTC")
    levels: tuple[tuple[Level, bool], ...] = (("campaign", True), ("account", False))
    for level, campaign in levels:
        query = ReportQuery("1112223333", date(2026, 10, 1), date(2026, 10, 31), level)
        rows = await google_provider.fetch_report(tokens.access_token, query)
        report = normalize_report(rows, query=query, account=account)
        conv = next(c for c in report["columns"] if c["key"] == "conversions")
        assert conv["type"] == "decimal"
        at = [c["key"] for c in report["columns"]].index("conversions")
        values = [Decimal(r[at]) for r in report["rows"]]
        assert all(isinstance(r[at], str) for r in report["rows"])
        expected = state.rows("1112223333", query.since, query.until, campaign)
        want = sorted(Decimal(str(e["metrics"].get("conversions", 0))) for e in expected)
        assert sorted(values) == want
        assert any(v != v.to_integral_value() for v in values)  # halves survive
        assert Decimal(report["totals"]["conversions"]) == sum(want, Decimal(0))


async def test_expired_access_token_is_access_token_rejected(
    google: Google, google_provider: Provider
) -> None:
    query = ReportQuery("1112223333", date(2026, 10, 1), date(2026, 10, 2))
    with pytest.raises(AccessTokenRejected):
        await google_provider.fetch_report(Secret("ya29-stale"), query)


async def test_resource_exhausted_is_rate_limited(
    google: Google, google_provider: Provider
) -> None:
    _, state = google
    tokens, _ = await connect(google_provider)
    body = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota"}}
    state.fail_next(STREAM, 429, times=3, body=body, headers={"Retry-After": "600"})
    query = ReportQuery("1112223333", date(2026, 10, 1), date(2026, 10, 2))
    with pytest.raises(RateLimited) as caught:
        await google_provider.fetch_report(tokens.access_token, query)
    assert caught.value.retry_after == 600


async def test_unapproved_developer_token_says_check_the_configuration(google: Google) -> None:
    server, state = google
    provider = await build_provider(
        "google",
        {
            **FAST_RETRIES,
            "preset": "google_ads",
            "client_id": state.client_id,
            "client_secret_env": "G_SECRET",
            "authorization_endpoint": f"{server.url}/o/oauth2/v2/auth",
            "token_endpoint": f"{server.url}/token",
            "jwks_uri": f"{server.url}/oauth2/v3/certs",
            "reports": {"base_url": server.url, "developer_token_env": "G_DEV"},
        },
        env={"G_SECRET": state.client_secret, "G_DEV": "not-approved"},
        public_url=PUBLIC_URL,
        sandbox_url=None,
    )
    try:
        tokens, _ = await connect(provider)
        with pytest.raises(ProviderRequestError, match="developer token") as caught:
            await provider.list_accounts(tokens.access_token)
        assert "not-approved" not in str(caught.value)
    finally:
        await provider.aclose()


async def test_revocation_kills_the_grant_and_a_second_revoke_is_fine(
    google: Google, google_provider: Provider
) -> None:
    tokens, _ = await connect(google_provider)
    assert tokens.refresh_token is not None
    await google_provider.revoke(tokens.refresh_token)
    with pytest.raises(InvalidGrant):
        await google_provider.refresh(tokens.refresh_token)
    # Google answers 400 invalid_token for a dead token: revocation's goal is met.
    await google_provider.revoke(tokens.refresh_token)


async def test_manager_clients_listed_with_the_login_customer_id_that_reaches_them(
    google: Google, google_provider: Provider
) -> None:
    _, state = google
    state.add_agency()
    tokens, _ = await connect(google_provider)
    accounts = {a.id: a for a in await google_provider.list_accounts(tokens.access_token)}
    assert set(accounts) == {"1112223333", "9990001111", "5550001111", "5550002222"}
    manager = accounts["9990001111"]
    assert (manager.is_manager, manager.parent_id, manager.login_customer_id) == (
        True,
        None,
        None,
    )
    client = accounts["5550002222"]
    assert (client.name, client.currency, client.time_zone) == ("Client B", "GBP", "Europe/London")
    assert (client.is_manager, client.parent_id, client.login_customer_id) == (
        False,
        "9990001111",
        "9990001111",
    )
    assert accounts["1112223333"].login_customer_id is None
    # the customer_client query went to the manager, naming the manager as the login
    sent = [h for _, p, h in state.requests if p.endswith("9990001111/googleAds:searchStream")]
    assert sent[-1]["login-customer-id"] == "9990001111"


async def test_report_of_a_client_names_its_manager_in_login_customer_id(
    google: Google, google_provider: Provider
) -> None:
    _, state = google
    state.add_agency()
    tokens, _ = await connect(google_provider)
    accounts = {a.id: a for a in await google_provider.list_accounts(tokens.access_token)}
    client = accounts["5550001111"]
    query = ReportQuery(
        client.id,
        date(2026, 10, 1),
        date(2026, 10, 3),
        login_customer_id=client.login_customer_id,
        parent_id=client.parent_id,
    )
    rows = await google_provider.fetch_report(tokens.access_token, query)
    assert len(rows) == 3
    sent = [h for _, p, h in state.requests if p.endswith("5550001111/googleAds:searchStream")]
    assert sent[-1]["login-customer-id"] == "9990001111"
    # without the manager the fake, like Google, refuses the client account
    with pytest.raises(ProviderRequestError, match="login_customer_id"):
        await google_provider.fetch_report(
            tokens.access_token, ReportQuery(client.id, date(2026, 10, 1), date(2026, 10, 3))
        )


async def test_metrics_of_a_manager_account_are_refused_in_words(
    google: Google, google_provider: Provider
) -> None:
    _, state = google
    state.add_agency()
    tokens, _ = await connect(google_provider)
    query = ReportQuery("9990001111", date(2026, 10, 1), date(2026, 10, 3))
    with pytest.raises(ProviderRequestError, match="manager account.*client accounts"):
        await google_provider.fetch_report(tokens.access_token, query)


async def test_a_report_past_the_row_cap_is_refused_in_words(google: Google) -> None:
    """Issue 14 point 13: searchStream sends everything at once; past the row cap the report is
    refused with what to do instead."""
    server, state = google
    capped = await build(
        "google",
        {
            "preset": "google_ads",
            "client_id": state.client_id,
            "client_secret_env": "G_SECRET",
            "authorization_endpoint": f"{server.url}/o/oauth2/v2/auth",
            "token_endpoint": f"{server.url}/token",
            "revocation_endpoint": f"{server.url}/revoke",
            "userinfo_endpoint": f"{server.url}/v1/userinfo",
            "reports": {"base_url": server.url, "developer_token_env": "G_DEV", "max_rows": 50},
        },
        env={"G_SECRET": state.client_secret, "G_DEV": state.developer_token},
    )
    try:
        tokens, _ = await connect(capped)
        query = ReportQuery("111-222-3333", date(2026, 10, 1), date(2026, 10, 31), "campaign")
        with pytest.raises(ProviderRequestError, match="narrow the dates or the level"):
            await capped.fetch_report(tokens.access_token, query)  # 62 rows
    finally:
        await capped.aclose()
