"""Precise needs_reconnect reasons: each mapped Meta subcode and invalid_grant description."""

from __future__ import annotations

from datetime import date

import pytest

from backend.providers.base import InvalidGrant, Provider, ReportQuery
from backend.providers.reasons import META_SUBCODES, grant_reason, meta_reason
from tests.backend.providers.platforms.test_meta import connect as meta_connect
from tests.backend.providers.reports.test_google_ads import connect as google_connect
from tests.fakes.google import GoogleState
from tests.fakes.meta import MetaState, invalidate
from tests.support.servers import UvicornThread

pytestmark = pytest.mark.anyio

# Each subcode with words its sentence must carry: the cause and the remedy.
SUBCODES = {
    458: ("removed this app", "reconnect"),
    459: ("security checkpoint", "facebook.com"),
    460: ("changed your Facebook password", "reconnect"),
    463: ("expired", "reconnect"),
    464: ("not confirmed", "confirm it"),
    467: ("no longer accepts", "reconnect"),
    492: ("session", "reconnect"),
}


def test_every_mapped_subcode_is_tested() -> None:
    assert set(SUBCODES) == set(META_SUBCODES)


@pytest.mark.parametrize("subcode", sorted(SUBCODES))
async def test_meta_report_refusal_with_subcode_gives_its_sentence(
    subcode: int, meta: tuple[UvicornThread, MetaState], meta_provider: Provider
) -> None:
    _, state = meta
    tokens = await meta_connect(meta_provider)
    invalidate(state, subcode)
    query = ReportQuery("act_1000", date(2026, 11, 1), date(2026, 11, 2))
    with pytest.raises(InvalidGrant) as caught:
        await meta_provider.fetch_report(tokens.access_token, query)
    reason = caught.value.reason
    assert reason == META_SUBCODES[subcode]
    cause, remedy = SUBCODES[subcode]
    assert cause in reason
    assert remedy in reason


@pytest.mark.parametrize("subcode", sorted(SUBCODES))
async def test_meta_debug_token_subcode_gives_its_sentence(
    subcode: int, meta: tuple[UvicornThread, MetaState], meta_provider: Provider
) -> None:
    _, state = meta
    tokens = await meta_connect(meta_provider)
    invalidate(state, subcode)
    assert tokens.refresh_token is not None
    with pytest.raises(InvalidGrant) as caught:
        await meta_provider.refresh(tokens.refresh_token)  # Meta's refresh is debug_token
    assert caught.value.reason == META_SUBCODES[subcode]


def test_the_password_sentence_reads_as_the_issue_asks() -> None:
    assert (
        meta_reason(460) == "You changed your Facebook password; reconnect to allow access again."
    )
    assert meta_reason("460") == meta_reason(460)
    assert meta_reason(999) is None
    assert meta_reason(None) is None


async def test_google_expired_or_revoked_description_gives_its_sentence(
    google: tuple[UvicornThread, GoogleState], google_provider: Provider
) -> None:
    tokens, _ = await google_connect(google_provider)
    assert tokens.refresh_token is not None
    await google_provider.revoke(tokens.refresh_token)
    with pytest.raises(InvalidGrant) as caught:
        await google_provider.refresh(tokens.refresh_token)
    reason = caught.value.reason
    assert reason is not None
    assert reason.startswith("Google Ads says this sign-in was revoked or has expired")
    assert "testing mode" in reason
    assert "reconnect" in reason


@pytest.mark.parametrize(
    ("description", "words"),
    [
        ("Token has been expired or revoked.", "six months"),
        ("Account has been deleted", "deleted"),
        ("AADSTS700082: The refresh token has expired due to inactivity.", "90 days"),
        ("AADSTS70008: The provided authorization code or refresh token has expired", "expired"),
        ("AADSTS50173: The provided grant has expired due to it being revoked", "password"),
        ("AADSTS65001: The user or administrator has not consented", "consent"),
        ("AADSTS50076: Due to a configuration change made by your administrator", "multi-factor"),
        (
            "The provided authorization grant or refresh token is invalid, expired or revoked.",
            "365",
        ),
        ("The token used in the request has been revoked by the user", "removed this app"),
    ],
)
def test_known_error_descriptions_become_our_own_sentences(description: str, words: str) -> None:
    reason = grant_reason("Acme", description)
    assert reason is not None
    assert words in reason
    assert description not in reason  # their text is matched, never echoed


def test_an_unknown_description_is_not_echoed() -> None:
    assert grant_reason("Acme", "token ya29.secret-looking-value is bad") is None
    assert grant_reason("Acme", None) is None
