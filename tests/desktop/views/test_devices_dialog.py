"""Settings → Signed-in devices against the REAL local companion service: the window's and
the command line's devices, names, last seen in local time, this-device mark, Sign out and
Sign out all others (calls on workers, the dialog waits on signals)."""

from __future__ import annotations

import platform
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QLabel, QPushButton

from desktop.account import localsvc
from desktop.account.local_backend import LocalBackend
from desktop.account.secure_store import MemoryStore
from desktop.api.client import ApiClient
from desktop.api.errors import ApiError
from desktop.app.bootstrap import open_devices
from desktop.config import COMMAND_LINE, DESKTOP_APP
from desktop.models.connections import ConnectionsModel
from desktop.models.expiry import local_time
from desktop.views.main_window import MainWindow
from desktop.views.settings_dialog import SettingsDialog

HOST = platform.node()


@pytest.fixture(scope="module")
def service_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home = tmp_path_factory.mktemp("devices-home")
    (home / "run").mkdir(mode=0o700)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_RUNTIME_DIR", str(home / "run"))
        mp.setenv("CONNECTED_ACCOUNTS_DATA_DIR", str(home / "backend-data"))
        for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
            mp.setenv(name, str(home / name.lower()))
        try:
            yield
        finally:
            localsvc.stop()  # never leave the service behind


def signed_in(client: str) -> tuple[LocalBackend, ApiClient]:
    local = LocalBackend(store=MemoryStore(), client=client)  # a new device each time
    url = local.start()
    return local, ApiClient(url, auth=local.session, rebase=local.rebase, loopback=True)


def texts(row: Any) -> list[str]:
    return [label.text() for label in row.findChildren(QLabel)]


def test_devices_sign_out_one_then_all_others(qtbot, service_env: None) -> None:
    window_backend, window_client = signed_in(DESKTOP_APP)
    cli_backend, cli_client = signed_in(COMMAND_LINE)
    window = MainWindow(ConnectionsModel())
    qtbot.addWidget(window)
    dialog = open_devices(window, window_client)
    assert dialog is not None
    qtbot.waitUntil(lambda: len(dialog.devices) == 2, timeout=30_000)
    answer = window_client.devices()
    assert [d["id"] for d in dialog.devices] == [d["id"] for d in answer]
    names = {str(d["name"]): d for d in dialog.devices}
    assert set(names) == {f"{HOST} desktop app", f"{HOST} command line"}
    mine = dialog.rows[names[f"{HOST} desktop app"]["id"]]
    other = dialog.rows[names[f"{HOST} command line"]["id"]]
    seen = local_time(names[f"{HOST} desktop app"]["last_seen_at"])
    assert texts(mine) == [f"{HOST} desktop app", f"Last seen {seen} · This device"]
    assert not mine.findChild(QPushButton).isEnabled()
    assert "This device" not in " ".join(texts(other))
    assert dialog.others_button.isEnabled()

    with qtbot.waitSignal(dialog.changed, timeout=30_000):
        other.findChild(QPushButton).click()
    assert [d["name"] for d in dialog.devices] == [f"{HOST} desktop app"]
    with pytest.raises(ApiError) as refused:
        cli_client.devices()
    assert refused.value.code == "unauthorized"
    assert not dialog.others_button.isEnabled()

    third_backend, third_client = signed_in(COMMAND_LINE)
    try:
        with qtbot.waitSignal(dialog.changed, timeout=30_000):
            dialog.reload()
        assert len(dialog.devices) == 2
        with qtbot.waitSignal(dialog.changed, timeout=30_000):
            dialog.others_button.click()
        assert [d["current"] for d in dialog.devices] == [True]
        with pytest.raises(ApiError):
            third_client.devices()
    finally:
        third_client.close()
        third_backend.stop()
        cli_client.close()
        cli_backend.stop()
        window_client.close()
        window_backend.stop()


def test_settings_offers_devices_and_asks_to_sign_in_first(qtbot) -> None:
    settings = SettingsDialog(None)
    qtbot.addWidget(settings)
    with qtbot.waitSignal(settings.devices_requested, timeout=5_000):
        settings.devices_button.click()
    window = MainWindow(ConnectionsModel())
    qtbot.addWidget(window)
    assert open_devices(window, None) is None
    assert "Sign in first" in window.notice_banner.text()


def test_a_failed_call_is_shown_in_words(qtbot) -> None:
    from desktop.views.devices_dialog import DevicesDialog

    def refuse() -> list[dict[str, Any]]:
        raise ApiError("network", "The companion service is not answering.")

    dialog = DevicesDialog(refuse, lambda _: None, lambda: 0)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "not answering" in dialog.status.text(), timeout=30_000)
    assert not dialog.others_button.isEnabled()
