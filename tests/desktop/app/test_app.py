"""Application-level behaviour: one instance at a time, the system colour scheme, styles."""

from __future__ import annotations

import uuid

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from desktop import __version__
from desktop.app.bootstrap import apply_color_scheme, build_app
from desktop.app.single_instance import SingleInstance, server_name
from desktop.views.about import about_text


def test_second_launch_hands_over_to_the_first(qtbot) -> None:
    name = f"ca-test-{uuid.uuid4().hex[:8]}"
    first = SingleInstance(name)
    assert not first.hand_over()  # nobody runs yet
    assert first.listen()
    second = SingleInstance(name)
    with qtbot.waitSignal(first.activation_requested, timeout=5000):
        assert second.hand_over()
    assert first.server is not None
    first.server.close()


def test_server_name_is_per_user_and_hides_the_user_name() -> None:
    import getpass

    assert server_name().startswith("connected-accounts-")
    assert getpass.getuser() not in server_name()


def test_app_follows_the_system_colour_scheme(qapp: QApplication) -> None:
    app = build_app()
    assert app.applicationName() == "Connected Accounts"
    assert app.applicationVersion() == __version__
    assert not app.windowIcon().isNull()
    assert "QLabel#badge" in app.styleSheet()
    # The offscreen platform reports no scheme of its own, so the change is handed in as the
    # colorSchemeChanged signal would hand it in.
    try:
        apply_color_scheme(app, Qt.ColorScheme.Dark)
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 80
        assert app.property("colorScheme") == "dark"
        assert "#1d3b2a" in app.styleSheet()  # dark badge colours
        apply_color_scheme(app, Qt.ColorScheme.Light)
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 170
        assert "#1d3b2a" not in app.styleSheet()
    finally:
        apply_color_scheme(app)


def test_the_light_palette_is_fusions_own(qapp: QApplication) -> None:
    """bootstrap writes Fusion's standard palette out (no QStyle before the first paint)."""
    from PySide6.QtWidgets import QStyleFactory

    from desktop.app.bootstrap import light_palette

    fusion = QStyleFactory.create("Fusion")
    expected, ours = fusion.standardPalette(), light_palette()
    groups = [
        QPalette.ColorGroup.Active,
        QPalette.ColorGroup.Inactive,
        QPalette.ColorGroup.Disabled,
    ]
    roles = [r for r in QPalette.ColorRole if r != QPalette.ColorRole.NColorRoles]
    differ = [
        (g.name, role.name, ours.color(g, role).name(), expected.color(g, role).name())
        for g in groups
        for role in roles
        if ours.color(g, role).rgba() != expected.color(g, role).rgba()
    ]
    assert differ == []
    app = build_app()
    assert app.palette().color(QPalette.ColorRole.Highlight) == expected.color(
        QPalette.ColorRole.Highlight
    )


def test_the_app_starts_in_fusion_without_setstyle(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A new QApplication gets Fusion from its command line (`-style Fusion`), over the
    environment's choice. Under the style sheet the style's name is not readable; the standard
    palette tells Fusion (#308cc6 highlight) from Windows (#000080)."""
    import os
    import subprocess
    import sys

    code = (
        "import sys; from desktop.app.bootstrap import build_app; app = build_app();"
        "role = app.palette().ColorRole.Highlight;"
        "print(app.style().standardPalette().color(role).name(), app.palette().color(role).name())"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_STYLE_OVERRIDE": "Windows"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["#308cc6", "#308cc6"]


def test_the_scheme_read_from_the_qt_library_is_the_style_hints_one(qapp: QApplication) -> None:
    """desktop/app/color_scheme.py reads QStyleHints::colorScheme() without PySide6's `Qt`
    enums; on Linux with PySide6's own Qt it must give what colorScheme() gives."""
    import sys

    from PySide6.QtGui import QGuiApplication

    from desktop.app import color_scheme

    value = color_scheme._scheme_from_qt_library()
    if sys.platform.startswith("linux"):
        assert value is not None
    expected = QGuiApplication.styleHints().colorScheme()
    assert value is None or value == expected.value
    assert color_scheme.system_is_dark() == (expected == Qt.ColorScheme.Dark)
    assert Qt.ColorScheme.Dark.value == color_scheme.DARK


def test_a_dark_system_gets_the_dark_palette_at_start(qapp: QApplication, monkeypatch) -> None:
    from desktop.app import color_scheme

    app = build_app()
    try:
        monkeypatch.setattr(color_scheme, "_scheme_from_qt_library", lambda: color_scheme.DARK)
        apply_color_scheme(app)
        assert app.property("colorScheme") == "dark"
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 80
        monkeypatch.setattr(color_scheme, "_scheme_from_qt_library", lambda: 1)  # Light
        apply_color_scheme(app)
        assert app.property("colorScheme") == "light"
    finally:
        monkeypatch.undo()
        apply_color_scheme(app)


def test_about_names_the_version() -> None:
    assert f"Connected Accounts {__version__}" in about_text()


def test_server_name_hash_is_sha256_without_hashlib() -> None:
    """single_instance hashes with CPython's own SHA-256 (no OpenSSL before the window): the
    digest, and so the socket's name, is hashlib's."""
    import hashlib

    from desktop.app.single_instance import sha256_hex

    for data in (b"", b"abc", b"user\0/home/user/.local/share"):
        assert sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_server_name_is_per_data_folder(monkeypatch, tmp_path) -> None:
    """Two profiles of one user (another XDG_DATA_HOME: each test run has its own) are two
    apps: one must not raise the other's window and exit."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "one"))
    one = server_name()
    assert server_name() == one
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "two"))
    assert server_name() != one
