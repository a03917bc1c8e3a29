"""Is the system's colour scheme dark? Asked once before the window's first paint.

`QStyleHints.colorScheme()` answers a `Qt.ColorScheme`, and the first use of anything in the
`Qt` namespace makes PySide6 build all 93 of its Python enums with the `enum` module: ~20 ms
of CPU before the first paint, more than any other single step of the start
(bench/cold_start.py; the window itself needs no `Qt` enum before it has painted). With
PySide6's own Qt libraries on Linux the same answer is read straight from
`QStyleHints::colorScheme() const`, which returns the enum's plain int; anywhere else, or if
that library or symbol is not found, through `Qt` as usual.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QGuiApplication

DARK = 2
"""`Qt.ColorScheme.Dark` (`Unknown` 0, `Light` 1, `Dark` 2)."""
_SYMBOL = "_ZNK11QStyleHints11colorSchemeEv"  # Itanium C++ ABI: QStyleHints::colorScheme() const


def _scheme_from_qt_library() -> int | None:
    """The scheme's int from libQt6Gui itself (Linux, PySide6's wheel), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        import os

        import PySide6
        import shiboken6

        library = Path(PySide6.__file__).parent / "Qt" / "lib" / "libQt6Gui.so.6"
        # RTLD_NOLOAD: only the copy QtGui already loaded, never a second one.
        gui = ctypes.CDLL(str(library), mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        color_scheme = getattr(gui, _SYMBOL)
        color_scheme.restype = ctypes.c_int
        color_scheme.argtypes = [ctypes.c_void_p]
        hints = QGuiApplication.styleHints()
        value = int(color_scheme(shiboken6.getCppPointer(hints)[0]))
    except (OSError, AttributeError, ImportError):
        return None
    return value if value in (0, 1, DARK) else None


def system_is_dark() -> bool:
    """True when the system asks for a dark colour scheme (needs a QGuiApplication)."""
    value = _scheme_from_qt_library()
    if value is not None:
        return value == DARK
    from PySide6.QtCore import Qt

    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
