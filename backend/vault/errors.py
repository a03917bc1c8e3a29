"""What the vault raises. No HTTP here: backend/errors.py maps these to problem+json.

Provider failures the vault meets while calling an API (rate limits, outages, refused
requests) pass through as the provider's own errors (backend/providers/base.py), after the
connection's status has recorded them.
"""

from __future__ import annotations


class VaultError(Exception):
    """Base of every vault failure; messages never hold plaintext or key material."""


class ConnectionGone(VaultError):
    """There is no such connection, or it was disconnected: no token will be used for it."""


class ReconnectRequired(VaultError):
    """The grant is gone (revoked, expired, refused): the user reconnects the account."""


class VaultUnavailable(VaultError):
    """A stored secret names a vault key this backend does not have (a configuration error)."""
