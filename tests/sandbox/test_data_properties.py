"""Properties of the generated figures, over many seeds, accounts and days (the API tests check
the same rules over HTTP on fixed ranges)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.sandbox.data import Account, accounts_for, money
from backend.sandbox.report_rows import rows_json

ACCOUNTS = [
    a for user in ("user-1001", "user-1002", "user-77") for a in accounts_for(user, benchmark=True)
]
seeds = st.integers(min_value=0, max_value=2**63)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


@settings(max_examples=150, deadline=None)
@given(seed=seeds, account=st.sampled_from(ACCOUNTS), day=days)
def test_counts_are_ordered_and_account_rows_are_exact_sums(
    seed: int, account: Account, day: date
) -> None:
    acct = account
    campaigns = [json.loads(r) for r in rows_json(seed, acct, day, "campaign", 0, acct.campaigns)]
    (total,) = [json.loads(r) for r in rows_json(seed, acct, day, "account", 0, 1)]
    for row in campaigns:
        assert 0 <= int(row["conversions"]) <= int(row["clicks"]) <= int(row["impressions"])
        assert row["date"] == day.isoformat()
    for metric in ("impressions", "clicks", "conversions"):
        assert int(total[metric]) == sum(int(r[metric]) for r in campaigns)
    assert Decimal(total["spend"]) == sum(Decimal(r["spend"]) for r in campaigns)
    places = 0 if acct.currency == "JPY" else 2
    assert all(len(r["spend"].partition(".")[2]) == places for r in [*campaigns, total])


@given(seed=seeds, account=st.sampled_from(ACCOUNTS), day=days, start=st.integers(0, 40))
def test_any_slice_equals_the_same_part_of_the_whole(
    seed: int, account: Account, day: date, start: int
) -> None:
    acct = account
    whole = rows_json(seed, acct, day, "campaign", 0, 50)
    assert rows_json(seed, acct, day, "campaign", start, start + 9) == whole[start : start + 9]


@given(minor=st.integers(min_value=0, max_value=10**12))
def test_money_renders_minor_units_exactly(minor: int) -> None:
    assert Decimal(money(minor, 2)) == Decimal(minor) / 100
    assert money(minor, 0) == str(minor)
    assert Decimal(money(minor, 3)) == Decimal(minor) / 1000
