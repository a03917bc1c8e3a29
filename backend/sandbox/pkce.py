"""PKCE (RFC 7636), S256 only: the sandbox never accepts `plain`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

# RFC 7636 §4.1/§4.2: 43-128 characters of the unreserved set.
_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def valid_challenge(challenge: str) -> bool:
    return _VALUE.fullmatch(challenge) is not None


def s256(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(code_verifier))) without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(verifier: str, challenge: str) -> bool:
    """RFC 7636 §4.6, compared in constant time."""
    if _VALUE.fullmatch(verifier) is None:
        return False
    return hmac.compare_digest(s256(verifier), challenge)
