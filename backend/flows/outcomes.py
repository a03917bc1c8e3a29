"""Plain words for every way a connect attempt can end without a connection.

RFC 6749 §4.1.2.1 error codes from the provider are passed on as `provider_error` (reduced
to the characters the RFC allows); their free-text `error_description` is not, because it
comes from elsewhere and is shown to the user.
"""

from __future__ import annotations

import re
from typing import NoReturn

from backend.errors import InvalidRequest, ProviderUnavailableError
from backend.flows.service import Failure
from backend.providers.base import InvalidGrant, Provider, ProviderError, ProviderUnavailable

# RFC 6749 §4.1.2.1: error = 1*( %x20-21 / %x23-5B / %x5D-7E ); we keep a tighter set.
_ERROR_CODE = re.compile(r"[^A-Za-z0-9_.\-]")


def error_code(raw: str) -> str:
    return _ERROR_CODE.sub("", raw)[:64] or "unknown_error"


def declined(provider: Provider, raw_error: str) -> Failure:
    """The provider sent the browser back with `error=...` instead of a code."""
    code = error_code(raw_error)
    name = provider.display_name
    if code == "access_denied":
        words = f"You declined access at {name}; nothing was connected."
    elif code in ("temporarily_unavailable", "server_error"):
        words = (
            f"{name} could not finish the sign-in just now ({code}); nothing was connected. "
            "Try connecting again in a moment."
        )
    else:
        words = (
            f"{name} could not finish the sign-in ({code}); nothing was connected. "
            "Try connecting again."
        )
    return Failure(words, provider_error=code)


def wrong_issuer(provider: Provider, iss: str | None) -> Failure:
    """RFC 9207 §2.4 / RFC 9700 §4.4: a response naming another issuer, or naming none where
    the provider promises to, may be a mix-up attack."""
    name = provider.display_name
    if iss is None:
        return Failure(
            f"The sign-in response did not say it came from {name} (it lacks the 'iss' "
            f"parameter that {name} always sends), so it was refused and nothing was "
            "connected. Start connecting again.",
            provider_error="invalid_issuer",
        )
    return Failure(
        f"The sign-in response did not come from {name} (its issuer differs), "
        "so it was refused and nothing was connected. Start connecting again.",
        provider_error="invalid_issuer",
    )


def no_code() -> Failure:
    return Failure(
        "The sign-in response carried neither a code nor an error; nothing was connected. "
        "Start connecting again."
    )


def redeem_failed(provider: Provider, exc: ProviderError) -> Failure:
    """The code redemption or the identity look-up failed."""
    name = provider.display_name
    if isinstance(exc, InvalidGrant):
        return Failure(
            f"{name} did not accept the sign-in code (it expired or was already used); "
            "nothing was connected. Start connecting again.",
            provider_error="invalid_grant",
        )
    if isinstance(exc, ProviderUnavailable):
        return Failure(f"{exc} Nothing was connected; start connecting again.", status=503)
    return Failure(f"{exc} Nothing was connected.")


def issuer_matches(provider: Provider, iss: str | None) -> bool:
    """RFC 9207 §2.4: when `iss` is present it must equal the provider's issuer exactly, and
    a provider that advertises `authorization_response_iss_parameter_supported` (RFC 9207 §3)
    must send it. Google sends `iss` without advertising it: presence alone never refuses."""
    if iss is None:
        return not provider.iss_parameter_supported
    if provider.issuer is None:
        return True
    return iss == provider.issuer


def raise_failure(failure: Failure) -> NoReturn:
    if failure.status == 503:
        if failure.provider_error:
            raise ProviderUnavailableError(
                failure.detail, retry_after=5, provider_error=failure.provider_error
            )
        raise ProviderUnavailableError(failure.detail, retry_after=5)
    if failure.provider_error:
        raise InvalidRequest(failure.detail, provider_error=failure.provider_error)
    raise InvalidRequest(failure.detail)
