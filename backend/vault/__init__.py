"""The token vault's front door: nothing outside this package imports its modules.

- `Vault` (service.py): store, access token, call with token, peek, forget, seal / open.
- Errors (errors.py, crypto.py): VaultError and its kinds; backend/errors.py maps them.
- Keys: `KeyRing`, `aad` for binding a ciphertext to its row and purpose; `load_vault_keys`
  and `rotate_key` for app.py, the CLI and the local service.

Inside: `crypto` (AES-256-GCM seal/open), `keys` / `os_keyring` (where keys live), `rotation`
(re-encryption), `refresh` / `lease` / `flight` (single-flight refresh), `tokens`.
"""

from backend.vault.crypto import KeyRing, VaultDecryptError, VaultKeyMissing, aad
from backend.vault.errors import ConnectionGone, ReconnectRequired, VaultError, VaultUnavailable
from backend.vault.keys import load_keyring_and_place as load_vault_keys
from backend.vault.keys import rotate_key
from backend.vault.os_keyring import VaultKeyPlace
from backend.vault.refresh import TOKEN_COLUMNS, Token
from backend.vault.service import Vault

__all__ = [
    "TOKEN_COLUMNS",
    "ConnectionGone",
    "KeyRing",
    "ReconnectRequired",
    "Token",
    "Vault",
    "VaultDecryptError",
    "VaultError",
    "VaultKeyMissing",
    "VaultKeyPlace",
    "VaultUnavailable",
    "aad",
    "load_vault_keys",
    "rotate_key",
]
