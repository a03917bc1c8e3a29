"""The demo preset against the real Demo Ads sandbox (backend/sandbox/) served on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from backend.providers.base import (
    AccessTokenRejected,
    InvalidGrant,
    Provider,
    ProviderRequestError,
    RateLimited,
    ReportQuery,
    TokenSet,
)
from backend.reports.normalize import normalize_report
from backend.sandbox.app import create_sandbox_app
from backend.sandbox.config import SandboxConfig
from backend.secret import Secret
from tests.backend.providers.conftest import LOOPBACK, build, new_pkce, query_of
from tests.support import sandbox_admin
from tests.support.browser import play_consent
from tests.support.servers import UvicornThread, serve

pytestmark = pytest.mark.anyio

CLIENT = "demo-desktop"


@pytest.fixture
def sandbox() -> Iterator[UvicornThread]:
    with serve(create_sandbox_app(SandboxConfig(admin_api=True))) as server:
        yield server


@pytest.fixture
async def demo(sandbox: UvicornThread) -> AsyncIterator[Provider]:
    provider = await build("demo", {"preset": "demo"}, sandbox_url=sandbox.url)
    yield provider
    await provider.aclose()


def admin(sandbox: UvicornThread, path: str, body: dict[str, Any] | None = None) -> Any:
    headers = sandbox_admin.headers_for(sandbox.url)
    if body is None:
        response = httpx.get(f"{sandbox.url}/admin{path}", headers=headers, timeout=10)
    else:
        response = httpx.post(f"{sandbox.url}/admin{path}", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def stats(sandbox: UvicornThread) -> dict[str, int]:
    counters: dict[str, int] = admin(sandbox, "/stats")[CLIENT]
    return counters


async def connect(provider: Provider) -> TokenSet:
    pkce = new_pkce()
    url = provider.authorization_url(
        redirect_uri=LOOPBACK, state="st-demo", code_challenge=pkce.challenge, nonce=None
    )
    back = query_of(play_consent(url, decision="allow"))
    assert back["state"] == "st-demo"
    assert back["iss"] == provider.issuer  # RFC 9207: the sandbox names itself
    return await provider.redeem_code(
        code=Secret(back["code"]), redirect_uri=LOOPBACK, code_verifier=pkce.verifier
    )


def last_60_days(account_id: str, level: str = "campaign") -> ReportQuery:
    until = date(2026, 10, 31)
    return ReportQuery(account_id, until - timedelta(days=59), until, level)  # type: ignore[arg-type]


async def test_connect_identify_and_list_accounts(sandbox: UvicornThread, demo: Provider) -> None:
    tokens = await connect(demo)
    assert tokens.refresh_token is not None
    assert tokens.scope == ["ads_read"]
    identity = await demo.identify(tokens)
    assert identity.subject
    assert identity.display_name
    assert identity.accounts
    assert all(a.currency and a.time_zone for a in identity.accounts)
    assert stats(sandbox)["codes_redeemed"] == 1


async def test_report_rows_arrive_as_exact_numbers(demo: Provider) -> None:
    tokens = await connect(demo)
    accounts = await demo.list_accounts(tokens.access_token)
    query = last_60_days(accounts[0].id)
    rows = await demo.fetch_report(tokens.access_token, query)
    assert len({r.date for r in rows}) == 60
    assert all(isinstance(r.spend, Decimal) and r.campaign_name for r in rows)
    report = normalize_report(rows, query=query, account=accounts[0])
    assert report["totals"]["impressions"] == sum(r.impressions for r in rows)
    account_rows = await demo.fetch_report(
        tokens.access_token, last_60_days(accounts[0].id, "account")
    )
    assert len(account_rows) == 60
    assert all(r.campaign_id is None for r in account_rows)


async def test_small_pages_are_followed_to_the_same_rows(
    sandbox: UvicornThread, demo: Provider
) -> None:
    small = await build(
        "demo", {"preset": "demo", "reports": {"page_size": 7}}, sandbox_url=sandbox.url
    )
    try:
        tokens = await connect(small)
        account = (await small.list_accounts(tokens.access_token))[0]
        query = last_60_days(account.id)
        before = stats(sandbox)["api_calls"]
        paged = await small.fetch_report(tokens.access_token, query)
        pages = stats(sandbox)["api_calls"] - before
        assert pages == -(-len(paged) // 7)  # every page, no more
        assert paged == await demo.fetch_report(tokens.access_token, query)
    finally:
        await small.aclose()


async def test_outage_is_retried_and_rate_limit_honoured(
    sandbox: UvicornThread, demo: Provider
) -> None:
    tokens = await connect(demo)
    account = (await demo.list_accounts(tokens.access_token))[0]
    admin(sandbox, f"/clients/{CLIENT}/faults", {"fail_next_api": 2, "retry_after": 0})
    rows = await demo.fetch_report(tokens.access_token, last_60_days(account.id))
    assert rows
    admin(sandbox, f"/clients/{CLIENT}/faults", {"rate_limit_next": 3, "retry_after": 30})
    with pytest.raises(RateLimited) as caught:
        await demo.fetch_report(tokens.access_token, last_60_days(account.id))
    assert caught.value.retry_after == 30


async def test_sandbox_refusals_come_through_in_words(demo: Provider) -> None:
    tokens = await connect(demo)
    with pytest.raises(ProviderRequestError, match="does not know that ad account"):
        await demo.fetch_report(tokens.access_token, last_60_days("act_nope"))
    with pytest.raises(AccessTokenRejected):
        await demo.list_accounts(Secret("not-a-token"))


async def test_refresh_revocation_and_provider_side_removal(
    sandbox: UvicornThread, demo: Provider
) -> None:
    tokens = await connect(demo)
    assert tokens.refresh_token is not None
    refreshed = await demo.refresh(tokens.refresh_token)
    current = refreshed.refresh_token or tokens.refresh_token
    assert stats(sandbox)["refreshes"] == 1
    await demo.revoke(current)
    assert stats(sandbox)["revocations"] == 1
    with pytest.raises(InvalidGrant, match="reconnect"):
        await demo.refresh(current)
    await demo.revoke(current)  # RFC 7009 §2.2: already invalid is still success

    # The person removes the app on the provider's side.
    again = await connect(demo)
    assert again.refresh_token is not None
    admin(sandbox, "/grants/revoke", {"client_id": CLIENT})
    with pytest.raises(InvalidGrant):
        await demo.refresh(again.refresh_token)


async def test_a_report_past_the_row_cap_is_refused_in_words(sandbox: UvicornThread) -> None:
    """Issue 14 point 13: a report over the row cap (2,000,000 by default) is refused with what
    to do instead, and paging stops there rather than fetching the rest."""
    capped = await build(
        "demo",
        {"preset": "demo", "reports": {"page_size": 7, "max_rows": 20}},
        sandbox_url=sandbox.url,
    )
    try:
        tokens = await connect(capped)
        account = (await capped.list_accounts(tokens.access_token))[0]
        before = stats(sandbox)["api_calls"]
        with pytest.raises(ProviderRequestError, match="narrow the dates or the level"):
            await capped.fetch_report(tokens.access_token, last_60_days(account.id))
        assert stats(sandbox)["api_calls"] - before == 3  # 21 rows in 3 pages: then it stopped
    finally:
        await capped.aclose()


async def test_provider_paging_stops_at_the_page_cap(sandbox: UvicornThread) -> None:
    capped = await build(
        "demo",
        {"preset": "demo", "reports": {"page_size": 2, "max_pages": 4}},
        sandbox_url=sandbox.url,
    )
    try:
        tokens = await connect(capped)
        account = (await capped.list_accounts(tokens.access_token))[0]
        before = stats(sandbox)["api_calls"]
        with pytest.raises(ProviderRequestError, match="narrow the dates or the level"):
            await capped.fetch_report(tokens.access_token, last_60_days(account.id))
        assert stats(sandbox)["api_calls"] - before == 4
    finally:
        await capped.aclose()
