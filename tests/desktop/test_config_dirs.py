"""desktop/config.py answers the user folders itself on Linux (no platformdirs import before
the window's first paint): the answers must be platformdirs' own."""

from __future__ import annotations

import sys

import platformdirs
import pytest

from desktop import config

CASES = [
    {"XDG_CONFIG_HOME": "/x/conf", "XDG_DATA_HOME": "/x/data", "XDG_CACHE_HOME": "/x/cache"},
    {"XDG_STATE_HOME": "/x/state"},
    {"XDG_STATE_HOME": "relative/state"},
    {"XDG_CONFIG_HOME": "", "XDG_DATA_HOME": "", "XDG_CACHE_HOME": ""},
    {"XDG_CONFIG_HOME": "relative/conf", "XDG_DATA_HOME": "rel", "XDG_CACHE_HOME": "./c"},
    {"HOME": "/home/someone/"},
    {"HOME": "/"},
    {"HOME": "relative-home"},
    {"ANDROID_DATA": "/data", "ANDROID_ROOT": "/system", "XDG_CACHE_HOME": "/x/cache"},
]


@pytest.mark.parametrize("env", CASES)
def test_user_folders_are_platformdirs_own(monkeypatch: pytest.MonkeyPatch, env: dict) -> None:
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/home/tester")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    name = config.APP_NAME
    for ours, theirs in (
        (config.config_dir, platformdirs.user_config_dir),
        (config.data_dir, platformdirs.user_data_dir),
        (config.cache_dir, platformdirs.user_cache_dir),
        (config.log_dir, platformdirs.user_log_dir),
    ):
        try:
            expected = theirs(name, appauthor=False)
        except RuntimeError:  # no usable home: ours must fail the same way
            with pytest.raises(RuntimeError):
                ours()
            continue
        assert str(ours()) == str(type(ours())(expected))


def test_linux_needs_no_platformdirs_for_the_plain_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/x/cache")
    found = config._xdg_dir("XDG_CACHE_HOME", ".cache")
    if sys.platform.startswith("linux"):
        assert str(found) == "/x/cache/connected-accounts"
    else:
        assert found is None
