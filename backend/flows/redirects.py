"""Which redirect URIs a flow may use: loopback IP literals only (RFC 8252 §7.3, §8.3)."""

from __future__ import annotations

from urllib.parse import urlsplit

from backend.errors import InvalidRequest

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})
_MAX_LENGTH = 2000


def check_loopback_redirect(uri: str) -> str:
    """Return `uri` if it is `http://127.0.0.1:{port}/...` or `http://[::1]:{port}/...`.

    RFC 8252 §7.3: loopback redirects use http and an IP literal with a port chosen at run
    time; §8.3: `localhost` is NOT RECOMMENDED (it may resolve elsewhere). RFC 6749 §3.1.2:
    no fragment. Anything else (another host, https to a remote site) is refused, so a flow
    can only ever send the browser back to the device that started it.
    """
    words = (
        "redirect_uri must be a loopback address on this device, such as "
        "http://127.0.0.1:PORT/callback or http://[::1]:PORT/callback."
    )
    if len(uri) > _MAX_LENGTH:
        raise InvalidRequest(words)
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise InvalidRequest(words) from None
    if (
        parts.scheme != "http"
        or parts.hostname not in _LOOPBACK_HOSTS
        or port is None
        or parts.username is not None
        or parts.password is not None
        or parts.fragment
        or "#" in uri
    ):
        raise InvalidRequest(words)
    # `urlsplit` lower-cases the hostname; make sure the netloc is exactly the literal.
    expected = f"[{parts.hostname}]:{port}" if parts.hostname == "::1" else f"127.0.0.1:{port}"
    if parts.netloc != expected:
        raise InvalidRequest(words)
    return uri
