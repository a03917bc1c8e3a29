"""Play a person's browser at the Demo Ads consent page: over real HTTP with httpx
(`play_consent`), or as real headless Chromium under Selenium (`chromium`)."""

from __future__ import annotations

import ssl
from functools import cache
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import httpx


class _Form(HTMLParser):
    """The first <form>: its action and its inputs (hidden fields and the user radios)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.hidden: dict[str, str] = {}
        self.users: list[dict[str, str]] = []
        self.checked_user: str | None = None
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action, self._in_form = a.get("action", ""), True
        elif tag == "input" and self._in_form:
            if a.get("type") == "hidden":
                self.hidden[a.get("name", "")] = a.get("value", "")
            elif a.get("type") == "radio" and a.get("name") == "user":
                self.users.append(a)
                if "checked" in a:
                    self.checked_user = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


@cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every call (building one per httpx client costs ~70 ms)."""
    return ssl.create_default_context()


def _pick_user(form: _Form, user: str | None) -> str:
    if user is None:
        if form.checked_user is None:
            raise AssertionError("the consent page preselected nobody")
        return form.checked_user
    wanted = user.casefold()
    for option in form.users:
        keys = (option.get("value", ""), option.get("data-name", ""), option.get("data-email", ""))
        if wanted in (k.casefold() for k in keys):
            return option["value"]
    raise AssertionError(f"the consent page offers no person called {user!r}")


def play_consent(
    authorization_url: str,
    *,
    decision: str = "allow",
    user: str | None = None,
    timeout: float = 10.0,
) -> str:
    """GET the consent page, submit Allow or Deny as `user` (id, name or email; default: the one
    the page preselects), and return the redirect Location URL without following it."""
    with httpx.Client(timeout=timeout, follow_redirects=False, verify=tls_context()) as browser:
        page = browser.get(authorization_url)
        if page.status_code in (302, 303, 307):  # an error redirect straight from GET
            return page.headers["location"]
        if page.status_code != 200:
            raise AssertionError(f"consent page answered {page.status_code}: {page.text[:300]}")
        form = _Form()
        form.feed(page.text)
        if form.action is None:
            raise AssertionError("the consent page has no form")
        fields = {**form.hidden, "decision": decision}
        if decision == "allow" or user is not None:
            fields["user"] = _pick_user(form, user)
        answer = browser.post(urljoin(str(page.url), form.action), data=fields)
        if answer.status_code not in (302, 303, 307):
            raise AssertionError(f"consent answered {answer.status_code}: {answer.text[:300]}")
        return answer.headers["location"]


def chromium(profile_dir: str, *, width: int = 1100, height: int = 800) -> Any:
    """Debian's headless Chromium under Selenium with a throwaway profile and no background
    traffic; the caller quits it. (Selenium is imported here so play_consent stays light.)"""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile_dir}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
