"""Authorization server metadata: RFC 8414, then OpenID Connect Discovery 1.0."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from backend.providers.base import ProviderError
from backend.providers.http import RetryPolicy, request_with_retries


def metadata_urls(issuer: str) -> list[str]:
    """Where to look, in order.

    RFC 8414 §3.1 inserts the well-known segment between host and path; many servers (and
    OIDC Discovery §4) append it to the issuer instead, so both forms are tried.
    """
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    base = issuer.rstrip("/")
    urls = [
        urlunsplit(
            (parts.scheme, parts.netloc, f"/.well-known/oauth-authorization-server{path}", "", "")
        ),
        f"{base}/.well-known/oauth-authorization-server",
        f"{base}/.well-known/openid-configuration",
    ]
    return list(dict.fromkeys(urls))  # de-duplicated, order kept


async def discover(
    client: httpx.AsyncClient, issuer: str, *, provider_id: str, policy: RetryPolicy
) -> dict[str, Any]:
    """The issuer's metadata; ValueError naming the provider when none can be had."""
    problems: list[str] = []
    for url in metadata_urls(issuer):
        try:
            response = await request_with_retries(
                client,
                "GET",
                url,
                provider=f"The issuer of provider '{provider_id}'",
                action="read its metadata",
                policy=policy,
                headers={"Accept": "application/json"},
            )
        except ProviderError as exc:
            problems.append(str(exc))
            continue
        if response.status_code != 200:
            continue
        try:
            metadata = response.json()
        except ValueError:
            continue
        if not isinstance(metadata, dict):
            continue
        # RFC 8414 §3.3 / OIDC Discovery §4.3: the document must name the issuer we asked;
        # otherwise an attacker-controlled document could redirect our tokens.
        if metadata.get("issuer") != issuer:
            raise ValueError(
                f"Provider '{provider_id}': the metadata at {url} names issuer "
                f"{metadata.get('issuer')!r}, not {issuer!r}; check 'issuer'."
            )
        return metadata
    why = f" ({problems[0]})" if problems else ""
    raise ValueError(
        f"Provider '{provider_id}': could not read the authorization server metadata of "
        f"{issuer}{why}. Check 'issuer', or set authorization_endpoint and token_endpoint "
        "one by one."
    )
