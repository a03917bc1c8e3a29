"""desktop/app/pyside_imports.py: PySide6's per-import check, answered without inspect."""

from __future__ import annotations

import importlib
import json
import linecache
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import desktop.app  # installs it
import desktop.views.widgets
from desktop.app import pyside_imports


def _check() -> Any:
    return sys.modules["shibokensupport.feature"]._mod_uses_pyside


def test_importing_the_app_installs_it_once() -> None:
    check = _check()
    assert getattr(check, "_connected_accounts_fast", False)
    assert pyside_imports.install()
    assert _check() is check  # not wrapped twice
    assert not getattr(check.original, "_connected_accounts_fast", False)


@pytest.mark.parametrize(
    "module",
    [desktop.views.widgets, json, sys, importlib.import_module("_sqlite3"), pyside_imports],
    ids=lambda m: m.__name__,
)
def test_it_answers_as_pyside_does(module: ModuleType) -> None:
    check = _check()
    assert check(module) == check.original(module)


def test_it_reads_the_file_not_linecache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "ca_mentions_qt.py").write_text('"""Draws with PySide6."""\n')
    (tmp_path / "ca_plain.py").write_text("X = 1\n")
    try:
        import ca_mentions_qt  # type: ignore[import-not-found]
        import ca_plain  # type: ignore[import-not-found]

        check = _check()
        assert check(ca_mentions_qt) is True
        assert check(ca_plain) is False
        assert ca_mentions_qt.__file__ not in linecache.cache
        assert sys.modules["shibokensupport.feature"].pyside_feature_dict["ca_mentions_qt"] == 0
        assert sys.modules["shibokensupport.feature"].pyside_feature_dict["ca_plain"] == -1
        Path(ca_plain.__file__).unlink()  # gone since: PySide6's own answer (no source: False)
        assert check(ca_plain) is False
    finally:
        sys.modules.pop("ca_mentions_qt", None)
        sys.modules.pop("ca_plain", None)
