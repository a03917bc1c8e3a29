"""The pages the loopback receiver shows the browser, and the HTTP answers that carry them.

design rule "Loopback receiver": a page echoes no code, is not cached, leaks no referrer and loads
nothing from elsewhere.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parents[2] / "resources" / "pages"
# A foreign origin may not load anything into these pages (and they load nothing themselves).
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           414: "URI Too Long", 431: "Request Header Fields Too Large",
           503: "Service Unavailable"}  # fmt: skip
FALLBACK_PAGE = (
    "<!doctype html><meta charset='utf-8'><title>Connected Accounts</title>"
    "<p>{{MESSAGE}}</p><p>You can close this tab.</p>"
)


@dataclass(frozen=True)
class Outcome:
    """How the page after a redirect looks for one outcome (resources/pages/outcome.html)."""

    title: str
    hint: str
    accent: str  # CSS colour
    mark: str  # HTML: the one value put in unescaped


OUTCOMES = {
    "success": Outcome(
        "Consent received",
        "You can close this tab; Connected Accounts takes it from here.",
        "#1f8a4c",
        "&#10003;",
    ),
    "failure": Outcome(
        "Not connected",
        "You can close this tab and try again from Connected Accounts.",
        "#c0392b",
        "!",
    ),
    "already": Outcome(
        "Already done",
        "Nothing more to do here; you can close this tab.",
        "#2d6cdf",
        "&#10003;",
    ),
    "invalid": Outcome(
        "This link did not work",
        "You can close this tab. "
        "Connected Accounts is still waiting if a connection is in progress.",
        "#b7791f",
        "?",
    ),
}
_PLACEHOLDER = re.compile(r"\{\{([A-Z]+)\}\}")


def render_page(pages_dir: Path, name: str, message: str) -> str:
    """The outcome page for OUTCOMES[name] with the message HTML-escaped in `{{MESSAGE}}`."""
    outcome = OUTCOMES[name]
    try:
        template = (pages_dir / "outcome.html").read_text(encoding="utf-8")
    except OSError:
        template = FALLBACK_PAGE
    values = {
        "TITLE": html.escape(outcome.title),
        "HINT": html.escape(outcome.hint),
        "ACCENT": outcome.accent,
        "MARK": outcome.mark,
        "MESSAGE": html.escape(message),
    }
    # One pass, so a `{{...}}` inside the message is never filled in.
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), template)


def page_response(pages_dir: Path, status: int, page: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer (head and body) carrying one outcome page; then the
    connection closes."""
    body = render_page(pages_dir, page, message).encode("utf-8")
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}"]
    lines += [f"{k}: {v}" for k, v in PAGE_HEADERS.items()]
    if status == 405:
        lines.append("Allow: GET")
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("ascii") + body


_PROVIDER_ERRORS = {
    "access_denied": "You did not allow access, so nothing was connected.",
    "invalid_scope": "The provider refused the permissions this app asks for.",
    "server_error": "The provider had a problem. Try again in a few minutes.",
    "temporarily_unavailable": "The provider is busy right now. Try again in a few minutes.",
    "unauthorized_client": "The provider does not allow this app to connect.",
    "interaction_required": "The provider needs you to sign in again.",
    "login_required": "The provider needs you to sign in again.",
    "consent_required": "The provider needs your consent to connect.",
}


def describe_provider_error(error: str | None, description: str | None) -> str:
    """Plain words for an RFC 6749 §4.1.2.1 error response."""
    words = _PROVIDER_ERRORS.get(error or "", "The provider could not connect your account.")
    if description and description.strip():
        words += f" The provider said: {description.strip()[:300]}"
    return words
