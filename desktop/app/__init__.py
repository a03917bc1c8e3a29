"""The window application: bootstrap, controller, backend link, single instance, notifications.

Importing it loads Qt and makes PySide6's look at each later import cheap (pyside_imports)."""

from desktop.app.pyside_imports import install as _install

_install()
