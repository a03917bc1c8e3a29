"""PKCE (RFC 7636) and `state` values for one connect attempt.

S256 only: RFC 7636 §4.2 lets a client use `plain` only when it cannot do SHA-256, and
RFC 9700 §2.1.1 says not to; there is no code path here that could produce `plain`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

from backend.secret import Secret

# RFC 7636 §4.1: "a high-entropy cryptographic random STRING ... 32-octet sequence ...
# base64url-encoded to produce a 43-octet URL safe string".
VERIFIER_OCTETS: Final = 32
# Design: state carries at least 128 random bits; 32 octets give 256.
STATE_OCTETS: Final = 32
CHALLENGE_METHOD: Final = "S256"


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7636 Appendix A)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_verifier() -> Secret:
    """A fresh code_verifier: 32 random octets, base64url (43 characters)."""
    return Secret(b64url(secrets.token_bytes(VERIFIER_OCTETS)))


def s256_challenge(verifier: Secret | str) -> str:
    """code_challenge = BASE64URL(SHA256(ASCII(code_verifier))) (RFC 7636 §4.2)."""
    value = verifier.reveal() if isinstance(verifier, Secret) else verifier
    return b64url(hashlib.sha256(value.encode("ascii")).digest())


def new_state() -> str:
    """A fresh `state` (RFC 6749 §10.12); the backend keeps only its hash."""
    return secrets.token_urlsafe(STATE_OCTETS)


def new_nonce() -> str:
    """An OIDC nonce (OIDC Core §3.1.2.1), sent only to providers asking for `openid`."""
    return secrets.token_urlsafe(16)


def hash_state(state: str) -> str:
    """Hex SHA-256 of a state value: what the database stores and looks flows up by."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def state_matches(state: str, state_hash: str) -> bool:
    """Constant-time comparison of a presented state with the stored hash."""
    return hmac.compare_digest(hash_state(state).encode("ascii"), state_hash.encode("ascii"))
