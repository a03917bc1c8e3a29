"""Demo Ads models a 60-day grant and says so on every token response (as LinkedIn's
`refresh_token_expires_in` does), so the backend can show when a connection will lapse."""

from __future__ import annotations

from tests.sandbox.conftest import Sandbox

SIXTY_DAYS = 60 * 86_400


def test_token_responses_say_how_long_the_grant_has_left(sandbox: Sandbox) -> None:
    first = sandbox.connect()
    assert SIXTY_DAYS - 5 <= first["refresh_token_expires_in"] <= SIXTY_DAYS
    sandbox.clock.advance(10 * 86_400)
    later = sandbox.refresh(first["refresh_token"]).json()
    # Rotation gives a new refresh token, but the grant's end stays where it was.
    assert later["refresh_token_expires_in"] >= SIXTY_DAYS - 10 * 86_400 - 5
    assert later["refresh_token_expires_in"] <= SIXTY_DAYS - 10 * 86_400


def test_the_grant_ends_after_60_days(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    sandbox.clock.advance(SIXTY_DAYS + 1)
    refused = sandbox.refresh(tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
