"""PLACEHOLDER (owner: vault engineer)."""

from backend.config import Settings
from backend.vault.crypto import KeyRing


def load_keyring(settings: Settings) -> KeyRing:
    return KeyRing()
