"""One HTTP helper for every provider call: bounded retries, backoff with full jitter, Retry-After;
and the context each provider calls with (pooled client, retry policy, listing caps).

Nothing here ever formats a URL, a header or a body into a message: provider URLs can carry
tokens in their query strings (Meta's debug_token), so errors name only the provider and what
we were trying to do.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from backend.providers.base import ProviderUnavailable, RateLimited, ReportTooLarge
from backend.secret import Secret

log = logging.getLogger(__name__)

# httpx logs every request line (full URL, query string included) at INFO. Provider URLs may
# hold tokens, so its chatter stays at WARNING whatever the root level is.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

# 502/503/504 mean a gateway or the origin did not process the request, so even a
# non-idempotent call (code redemption, rotating refresh) may be sent again.
_GATEWAY_STATUSES = frozenset({502, 503, 504})

# One report holds at most this many rows (issue 14 point 13): past it, one request would keep
# the backend paging, normalising and sending for minutes and gigabytes.
MAX_REPORT_ROWS = 2_000_000
# Pages followed for one listing, whatever the page size (a provider that pages forever, or in
# tiny pages, must not keep us busy): at 500 rows a page, the row cap and some margin.
MAX_PAGES = 4_200


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` in all, sleeping up to base*2**n (capped) between them."""

    attempts: int = 3
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    # A 429 whose Retry-After is longer than this is not waited out: RateLimited at once.
    retry_after_cap_s: float = 5.0

    def backoff(self, attempt: int) -> float:
        """Full jitter (AWS architecture blog, "Exponential Backoff And Jitter")."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret


def parse_retry_after(value: str | None) -> float | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def request_with_retries(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    action: str,
    policy: RetryPolicy | None = None,
    idempotent: bool = True,
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    final: Callable[[httpx.Response], bool] | None = None,
) -> httpx.Response:
    """Send one request, retrying transient failures; return any 2xx/3xx/4xx (not 429) response.

    `provider` is the display name and `action` plain words ("exchange the sign-in code") for
    messages. `idempotent=False` (code redemption, refresh) retries only when the request surely
    was not processed: a refused connection, a connect timeout, 502/503/504, 429. Sending a code
    twice makes many providers revoke the whole grant (RFC 6749 §4.1.2).
    5xx / network errors after the last attempt -> ProviderUnavailable; 429 -> RateLimited.
    A 5xx that `final(response)` recognises (an answer, not a hiccup: Meta's "too much data")
    is returned at once for the caller to act on.
    """
    policy = policy or RetryPolicy()
    last_retry_after: float | None = None
    for attempt in range(policy.attempts):
        last = attempt == policy.attempts - 1
        try:
            response = await client.request(
                method, url, params=params, data=data, json=json, headers=headers
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            timed_out = isinstance(exc, httpx.TimeoutException)
            kind = "timed out" if timed_out else "could not be reached"
            if last:
                raise ProviderUnavailable(
                    f"{provider} {kind} while we tried to {action}; try again in a minute."
                ) from None
            await _sleep(policy.backoff(attempt), provider, action, kind)
            continue
        except httpx.TransportError as exc:
            # The request may have reached the provider (read timeout, dropped connection).
            kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "stopped answering"
            if last or not idempotent:
                raise ProviderUnavailable(
                    f"{provider} {kind} while we tried to {action}; try again in a minute."
                ) from None
            await _sleep(policy.backoff(attempt), provider, action, kind)
            continue

        status = response.status_code
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            last_retry_after = retry_after
            if last or (retry_after is not None and retry_after > policy.retry_after_cap_s):
                raise RateLimited(_rate_limited_words(provider, retry_after), retry_after)
            await _sleep(
                retry_after if retry_after is not None else policy.backoff(attempt),
                provider,
                action,
                "asked us to slow down",
            )
            continue
        if status >= 500 and final is not None and final(response):
            return response
        if status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            last_retry_after = retry_after
            retryable = idempotent or status in _GATEWAY_STATUSES
            if last or not retryable or (retry_after or 0) > policy.retry_after_cap_s:
                raise ProviderUnavailable(
                    f"{provider} is having trouble (HTTP {status}) and could not {action}; "
                    "try again in a few minutes.",
                    retry_after,
                )
            delay = retry_after if retry_after is not None else policy.backoff(attempt)
            await _sleep(delay, provider, action, f"answered HTTP {status}")
            continue
        return response
    # Unreachable with attempts >= 1; kept for the type checker.
    raise ProviderUnavailable(f"{provider} could not {action}.", last_retry_after)


def _rate_limited_words(provider: str, retry_after: float | None) -> str:
    if retry_after is None:
        return f"{provider} is rate-limiting this app; try again in a few minutes."
    return f"{provider} is rate-limiting this app; try again in {max(1, round(retry_after))} s."


async def _sleep(delay: float, provider: str, action: str, why: str) -> None:
    log.info("%s %s while we tried to %s; retrying in %.2f s", provider, why, action, delay)
    await asyncio.sleep(delay)


@dataclass(frozen=True)
class HttpContext:
    """The pooled client, the provider's display name (for messages), its retry policy, and
    how much one listing may hold."""

    client: httpx.AsyncClient
    provider: str
    policy: RetryPolicy
    max_rows: int = MAX_REPORT_ROWS
    max_pages: int = MAX_PAGES

    def check_size(self, pages: int, rows: int, *, report: bool = True) -> None:
        """Stop paging once a listing is past the caps, saying what to do instead."""
        if rows <= self.max_rows and pages <= self.max_pages:
            return
        if report:
            raise ReportTooLarge(
                f"This report would have more than {self.max_rows:,} rows, more than one "
                "report can hold; narrow the dates or the level (or pick fewer accounts)."
            )
        raise ReportTooLarge(
            f"{self.provider} sent more than {self.max_pages:,} pages ({rows:,} items); "
            "that is more than this app reads at once."
        )

    async def get_json(
        self,
        url: str,
        token: Secret,
        action: str,
        *,
        error: Callable[[httpx.Response, str], Exception],
        params: dict[str, str] | None = None,
        final: Callable[[httpx.Response], bool] | None = None,
    ) -> Any:
        """GET an ads API with the bearer token; `error(response, action)` words a non-200."""
        response = await request_with_retries(
            self.client,
            "GET",
            url,
            provider=self.provider,
            action=action,
            policy=self.policy,
            params=params,
            headers=bearer(token),
            final=final,
        )
        if response.status_code != 200:
            raise error(response, action)
        return json_of(response, self.provider, action)


def bearer(token: Secret) -> dict[str, str]:
    """RFC 6750 §2.1: the token goes in a header, never in a URL that might be logged."""
    return {"Authorization": f"Bearer {token.reveal()}", "Accept": "application/json"}


def json_of(response: httpx.Response, provider: str, action: str) -> Any:
    """The JSON body of a successful response; garbage reads as the provider being unwell."""
    try:
        return response.json()
    except ValueError:
        raise ProviderUnavailable(
            f"{provider} sent an unreadable answer when we tried to {action}; try again shortly."
        ) from None
