"""End-to-end tests: the real window in a real X server (Xvfb), the real Secret Service, a real
backend process on a fresh PostgreSQL database, and real Chromium as the person's browser.

CI runs them inside `dbus-run-session` with an unlocked gnome-keyring-daemon and `xvfb-run -a`
(see `./dev test`). Without a display, a session bus or the keyring they FAIL with words.
"""

from __future__ import annotations

import os
import shutil

import pytest

# A real window system, not the offscreen plugin tests/conftest.py defaults to. This must happen
# before pytest-qt's session `qapp` creates the QApplication (on first use, after collection).
# Without a display Qt's xcb plugin would abort the whole process, so it is chosen only when
# there is one; `real_desktop` then fails the tests with words instead.
if os.environ.get("DISPLAY"):
    os.environ["QT_QPA_PLATFORM"] = "xcb"


@pytest.fixture(scope="session")
def real_desktop(qapp) -> None:  # type: ignore[no-untyped-def]
    """Fail (never skip) when a part the end-to-end tests need is missing."""
    from PySide6.QtGui import QGuiApplication

    if not os.environ.get("DISPLAY"):
        pytest.fail(
            "No X display (DISPLAY is unset): run the end-to-end tests under `xvfb-run -a`."
        )
    platform = QGuiApplication.platformName()
    if platform != "xcb":
        pytest.fail(
            f"Qt runs on the '{platform}' platform, not 'xcb': the QApplication was created "
            "before tests/e2e/conftest.py set QT_QPA_PLATFORM=xcb."
        )
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        pytest.fail(
            "No D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset): run the tests inside "
            "`dbus-run-session` with an unlocked gnome-keyring-daemon (see ./dev test)."
        )
    from desktop.account.secure_store import KeyringStore, open_store

    store = open_store(timeout=15)
    if not isinstance(store, KeyringStore) or store.description != "keyring (SecretService)":
        why = (store.reason or store.description).rstrip(".")
        pytest.fail(
            f"The app would keep its sign-in in memory only, not in the Secret Service ({why}): "
            "start an unlocked gnome-keyring-daemon "
            "(`echo -n pw | gnome-keyring-daemon --unlock --components=secrets`) in the session."
        )
    for tool in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: install Debian's chromium and chromium-driver.")
