"""The Qt binding must keep Python's reference counts straight.

PySide6 6.12.0 on CPython 3.11 drops one reference to None on every call of a Qt method that
returns void (QLabel.setText, QTableView.setColumnWidth, …); after a few thousand such calls
the interpreter aborts with "deallocating None". pyproject.toml excludes that release; this
test fails on any binding with the same fault.
"""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel


def test_void_qt_calls_do_not_drop_references_to_none(qapp) -> None:  # type: ignore[no-untyped-def]
    label = QLabel()
    label.setText("warm-up")
    before = sys.getrefcount(None)
    for _ in range(500):
        label.setText("x")
    after = sys.getrefcount(None)
    # Other threads may take or drop a few references meanwhile; a leak is one per call.
    assert after >= before - 50, f"{before - after} references to None lost in 500 calls"
    label.deleteLater()
