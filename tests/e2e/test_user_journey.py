"""The product the way a person meets it, with nothing faked.

- the window is built the way `desktop.app.bootstrap.run_gui` builds it, on a real X server
  (Xvfb, xcb);
- the backend is a real `backend.cli serve --sandbox` process on a fresh PostgreSQL database,
  with a vault key this test chose (so it can open the vault and learn the provider's tokens);
- the sign-in is kept by the real gnome-keyring-daemon (Secret Service over D-Bus);
- "the system browser" is real headless Chromium under Selenium: the app's
  `QDesktopServices.openUrl` reaches it through `QDesktopServices.setUrlHandler("http", …)`.

The tests run in file order and share one journey: sign in and Deny, then Allow / report /
disconnect, then two restarts (backend up, then backend stopped), then the search for tokens.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PySide6.QtCore import QObject, QSettings, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDialogButtonBox, QPushButton
from sqlalchemy import create_engine, func, select

from backend.db.models import Connection as DbConnection
from backend.sandbox.admin import admin_headers, read_token_file
from backend.vault.crypto import KeyRing, b64encode_key, generate_key
from tests.desktop.support import data
from tests.support import pg
from tests.support.browser import chromium

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.usefixtures("real_desktop")]

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "analyst@example.com"
PASSWORD = "an end-to-end test password"
CLIENT = "demo-desktop"
DANA, SAM = "Dana Demo", "Sam Sample"
WAIT_MS = 30_000


# -- the backend: a real process on a fresh PostgreSQL database ---------------------------------
@dataclass
class Backend:
    url: str
    database_url: str
    ring: KeyRing
    process: subprocess.Popen[str]
    log: Path
    admin: dict[str, str] = field(default_factory=dict)  # Demo Ads admin headers (its token)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def stats(self) -> dict[str, int]:
        answer = httpx.get(f"{self.url}/sandbox/admin/stats", headers=self.admin, timeout=10)
        assert answer.status_code == 200, answer.text
        return dict(answer.json()[CLIENT])

    def grants(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/sandbox/admin/grants", headers=self.admin, timeout=10)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["data"])

    def connection_rows(self) -> int:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as db:
                return int(db.execute(select(func.count()).select_from(DbConnection)).scalar_one())
        finally:
            engine.dispose()

    def provider_tokens(self) -> set[str]:
        """Open every token ciphertext in the database with the vault key this test configured."""
        found: set[str] = set()
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as db:
                rows = db.execute(
                    select(DbConnection.id, DbConnection.refresh_ct, DbConnection.access_ct)
                ).all()
        finally:
            engine.dispose()
        for row in rows:
            for blob, purpose in (
                (row.refresh_ct, "refresh_token"),
                (row.access_ct, "access_token"),
            ):
                if blob:
                    found.add(self.ring.open(blob, f"connection:{row.id}:{purpose}").reveal())
        return found


def _first_line(stream: Any, timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"the backend printed no READY line within {timeout:g} s") from None


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    tmp = tmp_path_factory.mktemp("e2e-backend")
    database_url = pg.create_database("ca_e2e")
    spec = f"e2e1:{b64encode_key(generate_key())}"
    config = tmp / "backend.toml"
    config.write_text("[sandbox]\nadmin_api = true\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTED_ACCOUNTS_")}
    for name in ("DATA", "CONFIG", "CACHE", "STATE"):  # nothing of the backend's in the app's
        env[f"XDG_{name}_HOME"] = str(tmp / name.lower())
    env["CONNECTED_ACCOUNTS_DATA_DIR"] = str(tmp / "data")
    env["CONNECTED_ACCOUNTS_VAULT_KEYS"] = spec
    created = subprocess.run(
        [sys.executable, "-m", "backend.cli", "create-user", EMAIL, "--password-stdin",
         "--database-url", database_url],
        input=PASSWORD + "\n", capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
        check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    log = tmp / "backend.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--port", "0", "--sandbox",
             "--database-url", database_url, "--config", str(config)],
            stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
    assert process.stdout is not None
    ready = _first_line(process.stdout, 90).split()
    server = Backend(
        ready[1] if ready[:1] == ["READY"] else "", database_url, KeyRing.parse(spec), process, log
    )
    try:
        assert ready[:1] == ["READY"], f"backend said {ready!r}; log: {log.read_text()[-2000:]}"
        server.admin = admin_headers(read_token_file(tmp / "data"))
        yield server
    finally:
        server.stop()
        pg.drop_database(database_url)


# -- the person's browser: real Chromium, reached through QDesktopServices ----------------------
@dataclass
class Visit:
    """What Chromium saw during one consent."""

    authorization_url: str
    consent_title: str = ""
    final_url: str = ""
    heading: str = ""
    message: str = ""
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Chromium(QObject):
    """The URL handler for http: every URL the app opens is played in Chromium off the UI thread
    (consent as `person`, then `decision`), and the visit's outcome is kept for the test."""

    def __init__(self, driver: Any) -> None:
        super().__init__()
        self.driver = driver
        self.decision = "allow"
        self.person: str | None = None
        self.visits: list[Visit] = []
        self._lock = threading.Lock()  # one WebDriver session: one visit at a time

    @Slot(QUrl)
    def open_url(self, url: QUrl) -> None:
        visit = Visit(bytes(url.toEncoded().data()).decode())
        self.visits.append(visit)
        decision, person = self.decision, self.person
        threading.Thread(target=self._play, args=(visit, decision, person), daemon=True).start()

    def _play(self, visit: Visit, decision: str, person: str | None) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            with self._lock:
                driver = self.driver
                redirect_uri = parse_qs(urlsplit(visit.authorization_url).query)["redirect_uri"][0]
                driver.get(visit.authorization_url)
                wait = WebDriverWait(driver, 20)
                button = (By.CSS_SELECTOR, f"button[name=decision][value={decision}]")
                wait.until(ec.element_to_be_clickable(button))
                visit.consent_title = driver.title
                if person is not None:
                    driver.find_element(
                        By.XPATH, f"//input[@name='user'][@data-name='{person}']/ancestor::label"
                    ).click()
                driver.find_element(*button).click()
                wait.until(lambda d: d.current_url.startswith(redirect_uri + "?"))
                wait.until(ec.presence_of_element_located((By.TAG_NAME, "h1")))
                visit.final_url = driver.current_url
                visit.heading = driver.find_element(By.TAG_NAME, "h1").text
                visit.message = driver.find_element(By.TAG_NAME, "main").text
        except BaseException as exc:  # handed to the test thread
            visit.error = exc
        finally:
            visit.done.set()

    def expect(self, decision: str, person: str | None = None) -> int:
        """Answer the next URL the app opens with `decision` as `person`; returns its number."""
        self.decision, self.person = decision, person
        return len(self.visits)

    def visit(self, qtbot: Any, number: int) -> Visit:
        """Wait until visit `number` has ended in Chromium and return what Chromium saw."""
        qtbot.waitUntil(
            lambda: len(self.visits) > number and self.visits[number].done.is_set(),
            timeout=WAIT_MS,
        )
        visit = self.visits[number]
        if visit.error is not None:
            raise AssertionError(f"Chromium failed: {visit.error!r}") from visit.error
        return visit


@pytest.fixture(scope="module")
def browser(real_desktop: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    driver = chromium(str(tmp_path_factory.mktemp("chromium-profile")))
    handler = Chromium(driver)
    QDesktopServices.setUrlHandler("http", handler, "open_url")
    try:
        yield handler
    finally:
        QDesktopServices.unsetUrlHandler("http")
        driver.quit()


# -- the app's folders and logs ------------------------------------------------------------------
@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Private XDG folders for the app (the same for every launch, like one person's home), the
    QSettings file inside them, and the app's own log file (as `desktop.__main__` sets it up)."""
    from desktop.log import setup_logging

    root = tmp_path_factory.mktemp("e2e-home")
    names = ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
    saved = {n: os.environ.get(n) for n in (*names, "CONNECTED_ACCOUNTS_BACKEND")}
    for name in saved:
        if name.startswith("XDG_"):
            os.environ[name] = str(root / name.lower())
    os.environ.pop("CONNECTED_ACCOUNTS_BACKEND", None)
    QSettings.setPath(
        QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(root / "xdg_config_home")
    )
    # The most the app ever logs (`connected-accounts --verbose`); the test's own browser driver
    # is not the app, so its chatter stays out of the app's log file.
    setup_logging(verbose=True)
    quiet = {n: logging.getLogger(n).level for n in ("selenium", "urllib3")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield root
    finally:
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_connected_accounts", False):
                logging.getLogger().removeHandler(handler)
                handler.close()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# -- one launch of the app -----------------------------------------------------------------------
class App:
    """The window, controller, cache and backend link from `desktop.app.bootstrap.build_main`, as
    `run_gui` runs them (minus the single-instance socket and `app.exec()`, which pytest-qt's
    loop replaces)."""

    def __init__(self, backend_url: str) -> None:
        from desktop.app.bootstrap import build_app, build_main

        self.parts = build_main(build_app(), backend_url)
        self.model = self.parts.model
        self.window = self.parts.window
        self.notifier = self.parts.notifier
        self.controller = self.parts.controller
        self.link = self.parts.link
        self.cache = self.controller.cache
        assert self.cache is not None, "the app could not open its cache"
        # What happened, in order: "report" = a report went on screen, "listed" = the backend's
        # list arrived, "failed" = the backend could not be reached (with its words).
        self.events: list[tuple[str, str]] = []
        self.controller.connections_loaded.connect(lambda: self.events.append(("listed", "")))
        self.controller.backend_failed.connect(lambda m: self.events.append(("failed", m)))
        self.window.reports.table.model.modelReset.connect(self._on_report_shown)
        self.parts.start()
        self.closed = False

    def _on_report_shown(self) -> None:
        reports = self.window.reports
        if reports.table.model.report is not None:
            self.events.append(("report", "cached" if reports.cached else "fresh"))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def quit(self) -> None:
        if self.closed:
            return
        from desktop.concurrency import tasks

        self.closed = True
        self.window.close()
        self.parts.stop()
        assert tasks.shutdown(10_000, cancel=True)
        self.cache.close()
        self.window.deleteLater()

    def row(self, name: str) -> Any:
        return next((r for r in self.window.accounts.rows if r.title.text() == name), None)

    def names(self) -> list[str]:
        return [r.title.text() for r in self.window.accounts.rows]


@dataclass
class Journey:
    """What one test leaves for the next."""

    app: App | None = None
    secrets: set[str] = field(default_factory=set)
    ids: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def journey(backend: Backend, browser: Chromium, home: Path) -> Iterator[Journey]:
    import keyring
    import keyring.errors

    state = Journey()
    yield state
    if state.app is not None:
        state.app.quit()
    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        keyring.delete_password("connected-accounts", backend.url)


def click(qtbot: Any, button: QPushButton | Callable[[], QPushButton | None]) -> None:
    """A real mouse click, once the button is on screen and enabled. Rows are rebuilt when a
    status check lands, so a row's button may be given as a function that finds it anew."""
    from PySide6.QtCore import Qt

    def find() -> QPushButton | None:
        return button() if callable(button) else button

    def ready() -> bool:
        found = find()
        return found is not None and found.isVisible() and found.isEnabled()

    qtbot.waitUntil(ready, timeout=WAIT_MS)
    found = find()
    assert found is not None
    qtbot.mouseClick(found, Qt.MouseButton.LeftButton)


def start_connect(qtbot: Any, app: App) -> Any:
    """Click the real Connect button and then Continue in browser for Demo Ads."""
    from desktop.views.connect_dialog import ConnectDialog

    click(qtbot, app.window.accounts.connect_button)
    qtbot.waitUntil(lambda: isinstance(app.controller.dialog, ConnectDialog), timeout=WAIT_MS)
    dialog = app.controller.dialog
    qtbot.waitUntil(lambda: dialog.provider_list.count() >= 1, timeout=WAIT_MS)
    assert dialog.selected_provider() == "demo"
    click(qtbot, dialog.continue_button)
    return dialog


# -- the journey --------------------------------------------------------------------------------
def test_sign_in_then_deny_in_chromium_stores_nothing(
    qtbot: Any, backend: Backend, browser: Chromium, journey: Journey
) -> None:
    from desktop.account.secure_store import KeyringStore, open_store
    from desktop.views.connect_dialog import FAILED

    store = open_store()
    assert isinstance(store, KeyringStore), f"no persistent keyring: {store.reason}"
    assert store.persistent
    assert store.description == "keyring (SecretService)"

    app = journey.app = App(backend.url)
    qtbot.waitUntil(lambda: app.link.sign_in_dialog is not None, timeout=WAIT_MS)
    dialog = app.link.sign_in_dialog
    assert dialog.url_edit.text() == backend.url
    qtbot.keyClicks(dialog.email_edit, EMAIL)
    qtbot.keyClicks(dialog.password_edit, PASSWORD)
    with qtbot.waitSignal(app.controller.connections_loaded, timeout=WAIT_MS):
        click(qtbot, dialog.buttons.button(QDialogButtonBox.StandardButton.Ok))
    assert f"signed in as {EMAIL}" in app.window.backend_text.text()
    session = app.link.session
    assert session is not None
    assert session.persistent
    assert session.storage == "keyring (SecretService)"
    assert not app.window.memory_banner.isVisible()
    assert app.names() == []

    number = browser.expect("deny")
    connect = start_connect(qtbot, app)
    visit = browser.visit(qtbot, number)
    assert visit.consent_title == "Sign in to Demo Ads"
    assert visit.heading == "Not connected"  # the receiver's failure page, in Chromium
    assert "You did not allow access, so nothing was connected." in visit.message
    assert "code=" not in visit.final_url
    qtbot.waitUntil(lambda: connect.pages.currentIndex() == FAILED, timeout=WAIT_MS)
    words = connect.error_text.text()
    assert "You declined access at the provider, so nothing was connected." in words, words
    close = next(b for b in connect.findChildren(QPushButton) if b.text() == "Close")
    click(qtbot, close)
    qtbot.waitUntil(lambda: app.controller.dialog is None, timeout=WAIT_MS)

    assert app.controller.client is not None
    assert app.controller.client.connections() == []  # GET /v1/connections
    assert backend.connection_rows() == 0
    assert backend.stats()["codes_issued"] == 0
    assert app.names() == []
    assert app.cache.load_connections() == []


def test_allow_in_chromium_then_report_then_disconnect_revokes(
    qtbot: Any, backend: Backend, browser: Chromium, journey: Journey
) -> None:
    app = journey.app
    assert app is not None, "runs after the sign-in test"
    assert app.controller.client is not None, "runs after the sign-in test"

    # Connect Dana Demo: Allow in Chromium, the receiver's success page, the row says Connected.
    number = browser.expect("allow", DANA)
    connect = start_connect(qtbot, app)
    with qtbot.waitSignal(connect.connection_added, timeout=WAIT_MS) as added:
        visit = browser.visit(qtbot, number)
    assert visit.consent_title == "Sign in to Demo Ads"
    assert visit.heading == "Consent received"
    assert "You can close this tab" in visit.message
    codes = parse_qs(urlsplit(visit.final_url).query)["code"]
    assert codes[0] not in visit.message  # the page echoes no code
    journey.secrets.update(codes)
    dana = journey.ids[DANA] = added.args[0].id
    qtbot.waitUntil(lambda: app.row(DANA) is not None, timeout=WAIT_MS)
    assert app.row(DANA).badge.text() == "Connected"
    assert [c.id for c in app.controller.client.connections()] == [dana]
    journey.secrets |= backend.provider_tokens()

    # A report in the Reports view: rows and the totals row.
    reports = app.window.reports
    with qtbot.waitSignal(reports.report_loaded, timeout=WAIT_MS) as loaded:
        click(qtbot, lambda: app.row(DANA).reports_button)
    assert loaded.args == [dana]
    report = data.whole(reports.table.model)
    assert report["connection_id"] == dana
    assert reports.table.model.rowCount() == len(report["rows"]) > 0
    totals = reports.table.totals_model
    assert totals.index(0, 0).data() == "Total"
    spend = reports.table.model.column_of("spend")
    assert totals.index(0, spend).data().replace(",", "") == report["totals"]["spend"]
    assert reports.table.footer.isVisible()
    assert reports.table.table.isVisible()
    assert "cached" not in reports.status_label.text()
    journey.secrets |= backend.provider_tokens()

    # Connect Sam Sample too and load his report: it is what the next launch shows from cache.
    app.window.show_view(0)
    number = browser.expect("allow", SAM)
    connect = start_connect(qtbot, app)
    with qtbot.waitSignal(connect.connection_added, timeout=WAIT_MS) as added:
        visit = browser.visit(qtbot, number)
    assert visit.heading == "Consent received"
    journey.secrets.update(parse_qs(urlsplit(visit.final_url).query)["code"])
    sam = journey.ids[SAM] = added.args[0].id
    qtbot.waitUntil(lambda: app.row(SAM) is not None, timeout=WAIT_MS)
    assert app.row(SAM).badge.text() == "Connected"
    with qtbot.waitSignal(reports.report_loaded, timeout=WAIT_MS):
        click(qtbot, lambda: app.row(SAM).reports_button)
    assert reports.table.model.rowCount() > 0
    qtbot.waitUntil(lambda: app.cache.load_report(sam) is not None, timeout=WAIT_MS)
    journey.secrets |= backend.provider_tokens()

    # Dana's access token works at Demo Ads right now (so the 401 below means something).
    dana_access = _access_token_of(backend, dana)
    journey.secrets.add(dana_access)
    assert _demo_api_status(backend, dana_access) == 200
    before = backend.stats()

    # Disconnect Dana: the real button, then confirm in the dialog.
    from desktop.views.disconnect_dialog import DisconnectDialog

    app.window.show_view(0)
    click(qtbot, lambda: app.row(DANA).disconnect_button)
    qtbot.waitUntil(lambda: isinstance(app.controller.dialog, DisconnectDialog), timeout=WAIT_MS)
    confirm = app.controller.dialog
    assert "ask Demo Ads to revoke access" in confirm.message.text()
    with qtbot.waitSignal(confirm.disconnected, timeout=WAIT_MS) as gone:
        click(qtbot, confirm.confirm_button)
    assert gone.args == [dana, False]
    assert "Access was revoked at Demo Ads" in confirm.message.text()
    click(qtbot, confirm.close_button)
    qtbot.waitUntil(lambda: app.row(DANA) is None, timeout=WAIT_MS)
    assert app.names() == [SAM]

    # The provider no longer accepts the grant; Sam's grant is untouched.
    after = backend.stats()
    assert after["revocations"] > before["revocations"]  # RFC 7009 calls reached Demo Ads
    assert after["grants_revoked"] == before["grants_revoked"] + 1
    assert _demo_api_status(backend, dana_access) == 401
    active = {g["user_id"]: g["active"] for g in backend.grants()}
    assert active == {"user-1001": False, "user-1002": True}
    assert [c.id for c in app.controller.client.connections()] == [sam]
    qtbot.waitUntil(lambda: [c["id"] for c in app.cache.load_connections()] == [sam])


def test_restart_signs_in_from_the_keyring_and_shows_the_cached_report(
    qtbot: Any, backend: Backend, journey: Journey
) -> None:
    sam = journey.ids.get(SAM)
    assert journey.app is not None, "runs after the connect test"
    assert sam, "runs after the connect test"
    journey.app.quit()
    import keyring

    stored = keyring.get_password("connected-accounts", backend.url)
    assert stored
    assert json.loads(stored)["user_email"] == EMAIL

    # Launch 2, backend up: no sign-in dialog; the cached report is on screen, marked cached.
    app = journey.app = App(backend.url)
    reports = app.window.reports
    qtbot.waitUntil(lambda: "listed" in app.kinds() and "report" in app.kinds(), timeout=WAIT_MS)
    assert ("report", "cached") in app.events, app.events
    assert "(cached" in reports.status_label.text()
    assert reports.table.model.report["connection_id"] == sam
    assert app.link.sign_in_dialog is None
    assert f"signed in as {EMAIL}" in app.window.backend_text.text()
    assert app.names() == [SAM]
    assert reports.table.model.rowCount() > 0
    assert reports.cached
    app.quit()

    # Launch 3, backend stopped: still no sign-in dialog; the saved list and report are shown,
    # with plain words that the companion service cannot be reached.
    backend.stop()
    app = journey.app = App(backend.url)
    reports = app.window.reports
    qtbot.waitUntil(lambda: "failed" in app.kinds(), timeout=WAIT_MS)
    words = dict(app.events)["failed"]
    assert words.startswith("Cannot reach the"), words  # plain words, no trace
    assert "Traceback" not in words
    qtbot.waitUntil(lambda: app.names() == [SAM], timeout=WAIT_MS)
    assert app.window.accounts.note.text().startswith("Saved list from last time")
    assert app.row(SAM).badge.text() == "Connected"  # as last seen, not re-checked
    qtbot.waitUntil(lambda: reports.table.model.report is not None, timeout=WAIT_MS)
    assert reports.cached
    assert "(cached" in reports.status_label.text()
    assert reports.table.model.rowCount() > 0
    assert reports.table.totals_model.index(0, 0).data() == "Total"
    assert app.window.offline_banner.isVisible()
    assert app.window.offline_banner.text().startswith(words)
    assert app.link.sign_in_dialog is None
    assert not app.window.session_banner.isVisible()
    app.quit()


def test_provider_tokens_are_nowhere_on_the_device(
    backend: Backend, home: Path, journey: Journey
) -> None:
    secrets = journey.secrets
    # Two grants: their codes, refresh tokens and access tokens at least.
    assert len(secrets) >= 6, f"too few provider secrets learned ({len(secrets)})"
    assert all(len(s) >= 16 for s in secrets)

    files = [p for p in home.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"cache.sqlite3", "desktop.log"} <= names, sorted(names)  # the right folders
    cache_bytes = b"".join(p.read_bytes() for p in files if p.name.startswith("cache.sqlite3"))
    assert journey.ids[SAM].encode() in cache_bytes  # the scan sees what the app saved
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"a provider token is in {path}"

    import secretstorage

    bus = secretstorage.dbus_init()
    try:
        items = list(secretstorage.get_default_collection(bus).get_all_items())
        ours = [i for i in items if i.get_attributes().get("service") == "connected-accounts"]
        assert ours, "the app's sign-in is not in the keyring"
        for item in items:
            text = item.get_secret().decode("utf-8", "replace") + item.get_label()
            text += json.dumps(item.get_attributes())
            for secret in secrets:
                assert secret not in text, (
                    f"a provider token is in keyring item {item.get_label()!r}"
                )
    finally:
        bus.close()


# -- helpers -------------------------------------------------------------------------------------
def _access_token_of(backend: Backend, connection_id: str) -> str:
    engine = create_engine(backend.database_url)
    try:
        with engine.connect() as db:
            blob = db.execute(
                select(DbConnection.access_ct).where(DbConnection.id == connection_id)
            ).scalar_one()
    finally:
        engine.dispose()
    assert blob, "the backend keeps no access token for this connection"
    return backend.ring.open(blob, f"connection:{connection_id}:access_token").reveal()


def _demo_api_status(backend: Backend, access_token: str) -> int:
    answer = httpx.get(
        f"{backend.url}/sandbox/api/me",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )
    return answer.status_code
