"""HTML for people: the consent page and the error page (self-contained, nothing loaded from
elsewhere, every inserted value escaped)."""

from __future__ import annotations

from functools import cache
from html import escape
from importlib import resources
from string import Template
from urllib.parse import urlsplit

from fastapi.responses import HTMLResponse

from backend.sandbox.config import SCOPES, UserConfig

# No scripts, no remote loads, no framing (clickjacking would turn "Allow" into a trap).
_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
    ),
}

_LOGO = (
    '<svg viewBox="0 0 34 34" aria-hidden="true"><rect width="34" height="34" rx="9" '
    'fill="#4f46e5"/><rect x="8" y="17" width="4.5" height="9" rx="1.5" fill="#c7d2fe"/>'
    '<rect x="14.75" y="12" width="4.5" height="14" rx="1.5" fill="#e0e7ff"/>'
    '<rect x="21.5" y="7" width="4.5" height="19" rx="1.5" fill="#fff"/></svg>'
)
_AVATAR_COLOURS = ["#4f46e5", "#0e9384", "#c11574", "#dc6803", "#1570ef"]


@cache
def _template(name: str) -> Template:
    text = resources.files("backend.sandbox").joinpath("templates", name).read_text("utf-8")
    return Template(text)


def _page(name: str, status: int, **values: str) -> HTMLResponse:
    body = _template(name).substitute(style=_template("style.css").template, logo=_LOGO, **values)
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def error_page(title: str, detail: str, status: int = 400) -> HTMLResponse:
    return _page("error.html", status, title=escape(title), detail=escape(detail))


def _initials(name: str) -> str:
    return "".join(part[0] for part in name.split()[:2]).upper() or "?"


def _user_option(user: UserConfig, index: int, checked: bool) -> str:
    colour = _AVATAR_COLOURS[index % len(_AVATAR_COLOURS)]
    return (
        f'<label class="user"><input type="radio" name="user" value="{escape(user.id)}" '
        f'data-name="{escape(user.name)}" data-email="{escape(user.email)}"'
        f"{' checked' if checked else ''}>"
        f'<span class="avatar" style="background:{colour}">{escape(_initials(user.name))}</span>'
        f'<span class="who"><b>{escape(user.name)}</b><small>{escape(user.email)}</small></span>'
        "</label>"
    )


def consent_page(
    *,
    action: str,
    request_id: str,
    client_name: str,
    users: list[UserConfig],
    selected: str,
    scopes: list[str],
    redirect_uri: str,
) -> HTMLResponse:
    options = "\n      ".join(_user_option(u, i, u.id == selected) for i, u in enumerate(users))
    items = "\n        ".join(
        f"<li><span>{escape(SCOPES.get(s, s))} <code>{escape(s)}</code></span></li>" for s in scopes
    )
    parts = urlsplit(redirect_uri)
    return _page(
        "consent.html",
        200,
        action=escape(action),
        request_id=escape(request_id),
        client_name=escape(client_name),
        users=options,
        scopes=items,
        redirect_host=escape(parts.netloc or redirect_uri),
    )
