"""Insights rows as ready-made JSON text, cached per account and day.

A report page is mostly serialisation work, so each day's rows are rendered once into JSON
fragments (Meta-style: every metric a string) and reused by later pages and requests; a
response is then one join. The cache is bounded (about 1100 days of the 100-campaign account).
"""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache

from backend.sandbox.data import Account, campaign_day, campaigns_of, money


@lru_cache(maxsize=256)
def _labels(seed: int, account: Account) -> tuple[str, ...]:
    """Each campaign's `"campaign_id":…,"campaign_name":…` JSON, rendered once."""
    return tuple(
        f'"campaign_id":{json.dumps(c.id)},"campaign_name":{json.dumps(c.name, ensure_ascii=False)}'
        for c in campaigns_of(seed, account)
    )


@lru_cache(maxsize=1100)
def _day(seed: int, account: Account, day: int) -> tuple[tuple[str, ...], str]:
    """(campaign rows, account row) for one day; the account row sums the campaign rows."""
    exponent = account.exponent
    head = f'{{"date":"{date.fromordinal(day).isoformat()}",'
    rows = []
    imp = clk = spd = conv = 0
    for c, label in zip(campaigns_of(seed, account), _labels(seed, account), strict=True):
        i, k, s, v = campaign_day(c, day)
        imp += i
        clk += k
        spd += s
        conv += v
        spend = f"{s // 100}.{s % 100:02d}" if exponent == 2 else money(s, exponent)
        rows.append(
            f'{head}{label},"impressions":"{i}","clicks":"{k}","spend":"{spend}",'
            f'"conversions":"{v}"}}'
        )
    total = (
        f'{head}"campaign_id":null,"campaign_name":null,'
        f'"impressions":"{imp}","clicks":"{clk}","spend":"{money(spd, exponent)}",'
        f'"conversions":"{conv}"}}'
    )
    return tuple(rows), total


def row_count(account: Account, since: date, until: date, level: str) -> int:
    days = until.toordinal() - since.toordinal() + 1
    return days if level == "account" else days * account.campaigns


def rows_json(
    seed: int, account: Account, since: date, level: str, start: int, stop: int
) -> list[str]:
    """Rows [start, stop) of the report from `since`, by date then campaign, as JSON objects.

    At level=account there is one row per day, the sums of that day's campaign rows.
    """
    first = since.toordinal()
    if level == "account":
        return [_day(seed, account, day)[1] for day in range(first + start, first + stop)]
    n = account.campaigns
    out: list[str] = []
    index = start
    while index < stop:
        day, offset = divmod(index, n)
        rows = _day(seed, account, first + day)[0]
        take = min(n - offset, stop - index)
        out.extend(rows[offset : offset + take])
        index += take
    return out
