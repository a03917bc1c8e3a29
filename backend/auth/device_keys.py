"""Device public keys: EC P-256 JWKs (RFC 7517/7518 §6.2) checked before they are stored."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

# RFC 7518 §6.2.1.2/3: x and y are the full 32-octet coordinates for P-256.
COORD_LEN = 32
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k", "oth")


def _coordinate(value: Any, name: str) -> int:
    if not isinstance(value, str) or not value or "=" in value:
        raise ValueError(f"The device key's '{name}' must be base64url text without padding.")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"The device key's '{name}' is not valid base64url.") from None
    if len(raw) != COORD_LEN:
        raise ValueError(f"The device key's '{name}' must be {COORD_LEN} bytes long.")
    return int.from_bytes(raw, "big")


def normalize_device_jwk(jwk: Any) -> dict[str, str]:
    """The public EC P-256 JWK reduced to kty/crv/x/y; ValueError in plain words otherwise."""
    if not isinstance(jwk, dict):
        raise ValueError("The device key must be a JWK object.")
    if any(member in jwk for member in _PRIVATE_MEMBERS):
        # Never store (or echo) private material someone sent by mistake.
        raise ValueError("The device key must be the public key only; it holds private parts.")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ValueError("The device key must be an EC key on the P-256 curve.")
    if "alg" in jwk and jwk["alg"] != "ES256":
        raise ValueError("The device key must be meant for ES256.")
    if "use" in jwk and jwk["use"] != "sig":
        raise ValueError("The device key must be meant for signing.")
    x, y = _coordinate(jwk.get("x"), "x"), _coordinate(jwk.get("y"), "y")
    try:
        # Rejects points that are not on the curve (invalid-curve attacks).
        ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError:
        raise ValueError("The device key is not a point on the P-256 curve.") from None
    return {"kty": "EC", "crv": "P-256", "x": str(jwk["x"]), "y": str(jwk["y"])}


def public_key(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    """The stored (already validated) JWK as a key object."""
    x, y = _coordinate(jwk.get("x"), "x"), _coordinate(jwk.get("y"), "y")
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
