"""The backend's own ES256 signing key for access JWTs: environment, key file, or made once.

Order: `CONNECTED_ACCOUNTS_SIGNING_KEY` (PEM), then `settings.signing_key_file`, then
`<data_dir>/signing-key.pem`, created (mode 0600) on first start (design: "Command line").
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from backend.config import Settings

log = logging.getLogger(__name__)

ENV_VAR = "CONNECTED_ACCOUNTS_SIGNING_KEY"
KEY_FILE_NAME = "signing-key.pem"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SigningKey:
    """An EC P-256 private key; `kid` is its RFC 7638 JWK thumbprint. Its repr shows only kid."""

    __slots__ = ("_jwk", "kid", "private_key", "public_key")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("The signing key must be an EC P-256 key (ES256).")
        self.private_key = private_key
        self.public_key = private_key.public_key()
        numbers = self.public_key.public_numbers()
        self._jwk = {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }
        # RFC 7638 §3.2: members in lexicographic order, no whitespace.
        canonical = json.dumps(self._jwk, sort_keys=True, separators=(",", ":"))
        self.kid = _b64url(hashlib.sha256(canonical.encode("ascii")).digest())

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: bytes, *, where: str) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            # Never include the PEM itself: it is the secret.
            raise ValueError(
                f"The signing key from {where} is not an unencrypted PEM key."
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"The signing key from {where} must be an EC P-256 key (ES256).")
        return cls(key)

    def to_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwk(self) -> dict[str, str]:
        """The public half as a JWK (RFC 7517), with `kid`, `alg` and `use`."""
        return {**self._jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


def _read_file(path: Path) -> SigningKey:
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"The signing key file {path} does not exist.") from None
    except OSError as exc:
        raise ValueError(f"The signing key file {path} cannot be read: {exc.strerror}.") from None
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            log.warning("the signing key file %s is readable by other users; chmod 600 it", path)
    return SigningKey.from_pem(pem, where=str(path))


def _create_key_file(path: Path) -> bool:
    """Write a fresh key to `path` unless it exists; True when this call made it.

    The PEM goes to a private temp file (O_EXCL, 0600) that is then hard-linked into place:
    link() fails when the name exists, so of two processes starting together exactly one
    wins, and no reader ever sees a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, SigningKey.generate().to_pem())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def load_signing_key(settings: Settings) -> SigningKey:
    """The key access JWTs are signed with; ValueError in plain words when it is unusable."""
    pem = os.environ.get(ENV_VAR)
    if pem:
        return SigningKey.from_pem(pem.encode("utf-8"), where=f"${ENV_VAR}")
    if settings.signing_key_file is not None:
        return _read_file(settings.signing_key_file)
    path = settings.data_dir / KEY_FILE_NAME
    if _create_key_file(path):
        log.info("created a new signing key file %s (mode 0600)", path)
    return _read_file(path)
