"""The expiry calendar's rules: fixed lapses count from the grant, sliding ones from last use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.providers.base import Identity, TokenSet
from backend.providers.lapse import expiry_at_connect, expiry_now, lapse_for
from backend.providers.registry import load_config
from backend.secret import Secret

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def lapse(preset: str, **table: Any) -> Any:
    cfg = load_config("p", {"preset": preset, **table}, sandbox_url="http://sandbox.invalid")
    return lapse_for(cfg, "Platform")


@pytest.mark.parametrize(
    ("preset", "table", "kind", "days", "words"),
    [
        ("demo", {}, "fixed", 60, "60 days"),
        ("meta", {}, "fixed", 60, "60 days"),
        ("google_ads", {"publishing_status": "testing"}, "fixed", 7, "testing mode"),
        ("google_ads", {}, "unused", 183, "unused for 6 months"),
        ("google_ads", {"publishing_status": "production"}, "unused", 183, "6 months"),
        ("linkedin_ads", {}, "fixed", 365, "365 days"),
        ("microsoft_ads", {}, "unused", 90, "unused for 90 days"),
    ],
)
def test_each_platforms_rule(
    preset: str, table: dict[str, Any], kind: str, days: int, words: str
) -> None:
    rule = lapse(preset, **table)
    assert (rule.kind, rule.days) == (kind, days)
    assert words in rule.reason


def test_a_generic_oauth2_provider_has_no_rule_but_shows_a_date_it_was_given() -> None:
    assert lapse("oauth2") is None
    said = NOW + timedelta(days=30)
    assert expiry_now(None, stored=said, last_used=NOW).at == said
    assert expiry_now(None, stored=None, last_used=NOW).at is None


def test_a_sliding_rule_counts_from_the_last_refresh() -> None:
    rule = lapse("microsoft_ads")
    later = NOW + timedelta(days=40)
    assert expiry_now(rule, stored=None, last_used=later).at == later + timedelta(days=90)


def test_at_connect_the_providers_word_beats_the_rule() -> None:
    class P:
        lapse = lapse("linkedin_ads")

    tokens = TokenSet(Secret("a"), Secret("r"), 3600, refresh_expires_in=100 * 86_400)
    plain = Identity("s", "n", [])
    assert expiry_at_connect(P(), plain, tokens, NOW) == NOW + timedelta(days=100)
    silent = TokenSet(Secret("a"), Secret("r"), 3600)
    assert expiry_at_connect(P(), plain, silent, NOW) == NOW + timedelta(days=365)
    meta_said = Identity("s", "n", [], expires_at=NOW + timedelta(days=59))
    assert expiry_at_connect(P(), meta_said, tokens, NOW) == NOW + timedelta(days=59)
