"""No plain HTTP off loopback: what `serve` accepts as its bind address and public URL.

The backend speaks plain HTTP itself. That is safe only when nothing leaves this computer
(a loopback bind and a loopback URL) or when a TLS proxy in front of it is what clients reach
(`--public-url https://…`). Anything else sends passwords and access tokens over a network
in clear text, so it takes an explicit `--insecure-http`, and the log says so loudly.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

INSECURE_WARNING = (
    "--insecure-http: this backend serves plain HTTP to other computers. Passwords, access "
    "tokens and report data cross the network unencrypted, readable and changeable by anyone "
    "on the path. Use it only on a network you fully trust; put a TLS proxy in front and pass "
    "--public-url https://… instead."
)


class PlainHttpRefused(ValueError):
    """`serve` would speak plain HTTP beyond this computer; the message says how to fix it."""


def is_loopback_host(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 and ::1 (also IPv4-mapped 127.x): never leaves this computer."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_plain_http(host: str, public_url: str | None, insecure_http: bool) -> None:
    """Raise PlainHttpRefused unless serving on `host` keeps plain HTTP on this computer, the
    public URL is https (a TLS proxy), or the operator said `--insecure-http`."""
    public = urlsplit(public_url) if public_url else None
    if public is not None and public.scheme not in ("http", "https"):
        raise PlainHttpRefused(f"--public-url must start with https:// (got {public_url!r}).")
    behind_tls = public is not None and public.scheme == "https"
    public_host = public.hostname if public is not None else None
    exposed = not is_loopback_host(host) and not behind_tls
    if public is not None and public.scheme == "http" and not is_loopback_host(public_host or ""):
        exposed = True
    if not exposed:
        return
    if insecure_http:
        log.warning(INSECURE_WARNING)
        print(f"WARNING: {INSECURE_WARNING}", file=sys.stderr, flush=True)
        return
    raise PlainHttpRefused(
        f"Refusing to serve plain HTTP beyond this computer (--host {host}"
        + (f", --public-url {public_url}" if public_url else "")
        + "): passwords and tokens would cross the network unencrypted. Put a TLS proxy in "
        "front and pass --public-url https://your.host, bind --host 127.0.0.1, or, on a "
        "network you fully trust, pass --insecure-http."
    )
