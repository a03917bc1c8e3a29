"""Deterministic ad accounts and daily metrics for the Demo Ads sandbox.

Numbers come from a counter-based hash (SplitMix64) of (seed, account, campaign, day), so any
row can be computed on its own, in any order, and the same request always gets the same
figures. No row is stored: a page of 5000 rows costs a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

_MASK = (1 << 64) - 1
# ISO 4217 minor units: JPY has none, the rest two.
_EXPONENT = {"JPY": 0, "KRW": 0}


def _mix(z: int) -> int:
    """SplitMix64 finaliser: a fast, well-spread 64-bit hash of an integer."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _key(*parts: int | str) -> int:
    h = 0
    for part in parts:
        value = part if isinstance(part, int) else int.from_bytes(part.encode()[:64], "big")
        h = _mix(h ^ (value & _MASK) ^ (value >> 64 & _MASK))
    return h


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    currency: str
    time_zone: str
    campaigns: int

    @property
    def exponent(self) -> int:
        return _EXPONENT.get(self.currency, 2)


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    impressions: int  # typical daily impressions
    ctr: float
    cpc_minor: int  # cost per click in the currency's minor unit
    cvr: float
    salt: int


# The two default people get hand-picked portfolios; other configured people get a generic one.
_PORTFOLIOS: dict[str, list[Account]] = {
    "user-1001": [
        Account("act_1001", "Dana's Bakery — Berlin", "EUR", "Europe/Berlin", 5),
        Account("act_1002", "Dana Demo Online Store", "USD", "America/New_York", 8),
        Account("act_1003", "Tokyo Pop-up Shop", "JPY", "Asia/Tokyo", 4),
        Account("act_1099", "Benchmark — 100 campaigns", "USD", "UTC", 100),
    ],
    "user-1002": [
        Account("act_2001", "Sample & Sons (UK)", "GBP", "Europe/London", 6),
        Account("act_2002", "Sam Sample Apps", "USD", "America/Los_Angeles", 3),
    ],
}

_THEMES = [
    "Spring Sale", "Brand Awareness", "Retargeting — Cart", "Lookalike Audiences",
    "Holiday Gifts", "Newsletter Sign-ups", "App Installs", "Local Reach",
    "Video Views", "Summer Collection", "Black Friday", "Back to School",
]  # fmt: skip


BENCHMARK_ACCOUNT = "act_1099"


def accounts_for(user_id: str, *, benchmark: bool = False) -> list[Account]:
    """The ad accounts a person manages (stable for a given user id). The 100-campaign
    benchmark account is there only when asked for (`benchmark_account`, set by bench/):
    a person trying the app should not meet it among their shops."""
    if user_id in _PORTFOLIOS:
        return [a for a in _PORTFOLIOS[user_id] if benchmark or a.id != BENCHMARK_ACCOUNT]
    suffix = user_id.removeprefix("user-")
    return [
        Account(f"act_{suffix}_1", "Main account", "EUR", "Europe/Paris", 4),
        Account(f"act_{suffix}_2", "Second brand", "USD", "America/Chicago", 3),
    ]


@lru_cache(maxsize=256)
def campaigns_of(seed: int, account: Account) -> tuple[Campaign, ...]:
    out = []
    offset = _key(seed, account.id) % len(_THEMES)  # consecutive themes: distinct names
    for n in range(account.campaigns):
        h = _key(seed, account.id, n)
        theme = _THEMES[(offset + n) % len(_THEMES)]
        name = f"{theme} #{n + 1}" if account.campaigns > len(_THEMES) else theme
        u = [((h >> s) & 0xFFF) / 4096 for s in (12, 24, 36, 48)]
        cpc = 0.2 + 2.3 * u[2]  # 0.20 .. 2.50 in the major unit of a dollar-like currency
        # Yen has no minor unit: a yen-priced click costs about 120x the dollar figure.
        cpc_minor = max(1, round(cpc * (120 if account.exponent == 0 else 100)))
        out.append(
            Campaign(
                id=f"{account.id.removeprefix('act_')}{n + 1:03d}",
                name=name,
                impressions=200 + int(19_800 * u[0] ** 2),
                ctr=0.004 + 0.036 * u[1],
                cpc_minor=cpc_minor,
                cvr=0.01 + 0.11 * u[3],
                salt=h,
            )
        )
    return tuple(out)


def campaign_day(c: Campaign, day: int) -> tuple[int, int, int, int]:
    """(impressions, clicks, spend in minor units, conversions) for one proleptic day number.

    Invariants: conversions <= clicks <= impressions, all >= 0.
    """
    # SplitMix64 inlined: this runs once per report row.
    z = ((c.salt ^ day) + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    h = z ^ (z >> 31)
    if (h & 0xFF) < 10:  # about 4% of days a campaign is paused
        return 0, 0, 0, 0
    weekend = 0.8 if day % 7 in (6, 0) else 1.0  # ordinal % 7: 6 = Saturday, 0 = Sunday
    impressions = int(c.impressions * (0.5 + ((h >> 8) & 0xFFF) / 4096) * weekend)
    clicks = min(impressions, int(impressions * c.ctr * (0.7 + 0.6 * ((h >> 20) & 0xFFF) / 4096)))
    conversions = min(clicks, int(clicks * c.cvr * (0.5 + ((h >> 32) & 0xFFF) / 4096)))
    spend = int(clicks * c.cpc_minor * (0.8 + 0.4 * ((h >> 44) & 0xFFF) / 4096))
    return impressions, clicks, spend, conversions


def money(minor: int, exponent: int) -> str:
    """Minor units -> a decimal string in the account currency ("12.05", or "1205" for JPY)."""
    if exponent == 0:
        return str(minor)
    if exponent == 2:  # the common case, kept cheap
        return f"{minor // 100}.{minor % 100:02d}"
    scale = 10**exponent
    return f"{minor // scale}.{minor % scale:0{exponent}d}"
