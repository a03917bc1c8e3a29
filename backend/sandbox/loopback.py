"""Which redirect URIs a client may use (RFC 6749 §3.1.2, RFC 8252 §7.3, RFC 9700 §4.1.3)."""

from __future__ import annotations

from urllib.parse import urlsplit

from backend.sandbox.config import ClientConfig

_LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def is_loopback(uri: str) -> bool:
    """`http://127.0.0.1:{port}/…`, `http://[::1]:{port}/…` or `http://localhost:{port}/…`.

    RFC 8252 §7.3: the port is chosen by the app at request time, so any port matches;
    scheme and host must be exact and there is no fragment (RFC 6749 §3.1.2).
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "http"
        and parts.hostname in _LOOPBACK_HOSTS
        and port is not None
        and not parts.fragment
        and not parts.username
        and not parts.password
    )


def redirect_allowed(client: ClientConfig, uri: str) -> bool:
    """Exact string match for registered URIs (RFC 9700 §4.1.3); any port for loopback."""
    if uri in client.redirect_uris:
        return True
    return client.allow_loopback and is_loopback(uri)
