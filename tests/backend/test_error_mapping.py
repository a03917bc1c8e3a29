"""errors.py maps vault and provider errors to the same problems the routes answered before."""

from __future__ import annotations

import pytest

from backend.errors import InvalidRequest, provider_api_error, vault_api_error
from backend.providers.base import (
    AccessTokenRejected,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
    RateLimited,
)
from backend.vault import (
    ConnectionGone,
    ReconnectRequired,
    VaultDecryptError,
    VaultUnavailable,
)


@pytest.mark.parametrize(
    ("error", "status", "code", "retry_after"),
    [
        (RateLimited("Slow down.", retry_after=30), 429, "rate_limited", 30),
        (ProviderUnavailable("Down.", retry_after=0), 503, "provider_unavailable", 0),
        (ProviderUnavailable("Down."), 503, "provider_unavailable", None),
        (ProviderRequestError("Range too long."), 422, "invalid_request", None),
        (AccessTokenRejected("Refused."), 503, "provider_unavailable", None),
        (ProviderError("Odd."), 503, "provider_unavailable", None),
    ],
)
def test_a_provider_error_becomes_its_problem(
    error: ProviderError, status: int, code: str, retry_after: float | None
) -> None:
    api = provider_api_error(error)
    assert (api.status, api.code, api.detail, api.retry_after) == (
        status,
        code,
        str(error),
        retry_after,
    )


def test_an_import_adds_its_sentence_its_default_wait_and_refuses_the_rest() -> None:
    def imported(error: ProviderError) -> tuple[int, str, float | None]:
        api = provider_api_error(
            error, then="Nothing was stored.", retry_after=5, otherwise=InvalidRequest
        )
        return api.status, api.detail, api.retry_after

    assert imported(ProviderUnavailable("Down.", retry_after=0)) == (
        503,
        "Down. Nothing was stored.",
        5,
    )
    assert imported(RateLimited("Slow.", retry_after=None)) == (
        429,
        "Slow. Nothing was stored.",
        None,
    )
    assert imported(ProviderError("Odd.")) == (422, "Odd. Nothing was stored.", None)


def test_vault_errors_become_their_problems() -> None:
    gone, reconnect = (
        vault_api_error(ConnectionGone("No such.")),
        vault_api_error(ReconnectRequired("Reconnect.")),
    )
    missing = vault_api_error(VaultUnavailable("Key gone."))
    assert gone is not None
    assert (gone.status, gone.code) == (404, "not_found")
    assert reconnect is not None
    assert (reconnect.status, reconnect.code) == (409, "needs_reconnect")
    assert missing is not None
    assert (missing.status, missing.code, missing.title) == (500, "internal", "Vault key missing")
    # Anything else is an internal error, answered without its words.
    assert vault_api_error(VaultDecryptError("damaged")) is None
