"""AES-256-GCM sealing behind a key ring with key ids, so vault keys can rotate.

Blob (ASCII): ``v1.<kid>.<base64url(nonce(12) || ciphertext || tag)>`` without padding.
The associated data binds each ciphertext to its row and purpose (``aad("connection", id,
"refresh_token")``), so a ciphertext copied to another row or column does not open.
Nothing in this module ever puts plaintext or key bytes into a message or a repr.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.secret import Secret
from backend.vault.errors import VaultError

VERSION: Final = "v1"
KEY_BYTES: Final = 32  # AES-256
NONCE_BYTES: Final = 12  # 96-bit nonce, the size GCM is specified for (NIST SP 800-38D §5.2.1.1)
_TAG_BYTES: Final = 16
# Key ids end up in blobs and in the env var syntax "kid:key,kid:key": no '.', ':' or ','.
_KID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class VaultKeyMissing(VaultError):
    """A ciphertext names a key id the ring does not hold."""

    def __init__(self, kid: str) -> None:
        super().__init__(
            f"The vault key '{kid}' is not configured; "
            "the ciphertexts sealed with it cannot be read."
        )
        self.kid = kid


class VaultDecryptError(VaultError):
    """The blob is malformed, tampered with, or bound to other associated data."""


def aad(kind: str, row_id: str, purpose: str) -> str:
    """Associated data for one secret: e.g. ``aad("flow", flow.id, "pkce_verifier")``."""
    if not row_id:
        raise VaultError("A sealed secret needs the id of the row it belongs to.")
    return f"{kind}:{row_id}:{purpose}"


def valid_kid(kid: str) -> bool:
    return bool(_KID.match(kid))


def generate_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def new_kid() -> str:
    """A fresh, unique-enough key id (the ring refuses duplicates anyway)."""
    return "k" + base64.b32encode(os.urandom(5)).decode().lower()


def blob_kid(blob: str) -> str:
    """The key id a blob was sealed with (no decryption)."""
    parts = blob.split(".", 2)
    if len(parts) != 3 or parts[0] != VERSION or not valid_kid(parts[1]):
        raise VaultDecryptError(
            "The stored secret is not a vault ciphertext this version can read."
        )
    return parts[1]


def b64decode_key(text: str) -> bytes:
    """Standard or URL-safe base64, padding optional; must decode to 32 bytes."""
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(
            text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4)
        )
    except (binascii.Error, ValueError):
        raise VaultError("A vault key is not valid base64.") from None
    if len(raw) != KEY_BYTES:
        raise VaultError(f"A vault key must be {KEY_BYTES} bytes (AES-256); one has {len(raw)}.")
    return raw


def b64encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


class KeyRing:
    """Key id -> 32-byte key. The first (active) key seals; every key in the ring opens."""

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        self._set_keys(list(keys))

    def _set_keys(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise VaultError("The vault key ring is empty; at least one key is needed.")
        ciphers: dict[str, AESGCM] = {}
        for kid, key in keys:
            if not valid_kid(kid):
                raise VaultError(
                    f"The vault key id '{kid[:64]}' is not valid (letters, digits, '-' and '_')."
                )
            if kid in ciphers:
                raise VaultError(f"The vault key id '{kid}' appears twice.")
            if len(key) != KEY_BYTES:
                raise VaultError(f"The vault key '{kid}' must be {KEY_BYTES} bytes (AES-256).")
            ciphers[kid] = AESGCM(key)
        # One assignment: readers in other threads see the old ring or the new one, never half.
        self._ring: tuple[tuple[str, ...], dict[str, AESGCM]] = (
            tuple(kid for kid, _ in keys),
            ciphers,
        )

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """``"kid1:base64key,kid2:base64key"`` (the env var syntax); the first key is active."""
        return cls(parse_spec(spec))

    @property
    def active_kid(self) -> str:
        return self._ring[0][0]

    @property
    def kids(self) -> tuple[str, ...]:
        return self._ring[0]

    def __contains__(self, kid: object) -> bool:
        return kid in self._ring[1]

    def __len__(self) -> int:
        return len(self._ring[0])

    def __repr__(self) -> str:
        return f"KeyRing(active={self.active_kid!r}, kids={list(self.kids)!r})"

    def seal(self, plaintext: str | Secret, aad: str) -> str:
        """Encrypt with the active key and a fresh random nonce (never reused under one key)."""
        order, ciphers = self._ring
        kid = order[0]
        cipher = ciphers[kid]
        value = plaintext.reveal() if isinstance(plaintext, Secret) else plaintext
        nonce = os.urandom(NONCE_BYTES)
        sealed = cipher.encrypt(nonce, value.encode("utf-8"), aad.encode("utf-8"))
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
        return f"{VERSION}.{kid}.{body}"

    def open(self, blob: str, aad: str) -> Secret:
        """Decrypt; tampering, another row or another purpose fails closed (VaultDecryptError)."""
        kid = blob_kid(blob)
        cipher = self._cipher(kid)
        body = blob.split(".", 2)[2]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise VaultDecryptError("The stored secret is damaged and cannot be read.") from None
        if len(raw) < NONCE_BYTES + _TAG_BYTES:
            raise VaultDecryptError("The stored secret is damaged and cannot be read.")
        try:
            plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode("utf-8"))
        except InvalidTag:
            raise VaultDecryptError(
                "The stored secret failed its integrity check (tampered with, or copied from "
                "another record); it was not used."
            ) from None
        try:
            return Secret(plain.decode("utf-8"))
        except UnicodeDecodeError:
            raise VaultDecryptError("The stored secret is not text.") from None

    def reseal(self, blob: str, aad: str) -> str:
        """The same secret sealed with the active key (for key rotation)."""
        return self.seal(self.open(blob, aad), aad)

    def _cipher(self, kid: str) -> AESGCM:
        cipher = self._ring[1].get(kid)
        if cipher is None:
            raise VaultKeyMissing(kid)
        return cipher


def parse_spec(spec: str) -> list[tuple[str, bytes]]:
    """Parse ``"kid1:base64key,kid2:base64key"``; errors name the entry, never the key."""
    keys: list[tuple[str, bytes]] = []
    for n, entry in enumerate((e for e in spec.split(",") if e.strip()), start=1):
        kid, sep, encoded = entry.strip().partition(":")
        if not sep or not kid:
            raise VaultError(
                f"Entry {n} of CONNECTED_ACCOUNTS_VAULT_KEYS is not 'key-id:base64-key'."
            )
        keys.append((kid, b64decode_key(encoded)))
    return keys
