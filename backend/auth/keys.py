"""PLACEHOLDER (owner: auth engineer) — replaced by the real signing-key loader."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from backend.config import Settings


class SigningKey:
    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.kid = "placeholder"


def load_signing_key(settings: Settings) -> SigningKey:
    return SigningKey()
