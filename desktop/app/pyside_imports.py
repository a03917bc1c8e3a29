"""A cheaper answer to the question PySide6 asks about every module imported after it.

PySide6 (6.4 and later) replaces `builtins.__import__` to support `from __feature__ import
snake_case`. After each import it calls `shibokensupport.feature._mod_uses_pyside(module)`,
which reads the module's whole source with `inspect.getsource` (tokenizer for the encoding,
`linecache`, which then keeps every line in memory for the life of the process) only to look
for the word "PySide6" (PYSIDE-2029; source: pyside-setup,
sources/shiboken6/shibokenmodule/files.dir/shibokensupport/feature.py).

The window imports about 40 of our modules before its first paint and some 450 more (httpx,
keyring, PyJWT, cryptography) right after it: that check cost ~10 ms before the paint and
~25 ms after (bench/cold_start.py). `install()` keeps the question and its answer, reading
a `.py` file's bytes directly; anything else (built-in, extension, no source) still goes to
PySide6's own function.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

import PySide6.QtCore  # noqa: F401  (installs the import hook this module adjusts)

_MARK = "_connected_accounts_fast"


def install() -> bool:
    """Swap in the cheaper check; True when it is (now or already) in place. Does nothing
    when this PySide6 has no such hook (the check may go in a later release)."""
    feature = sys.modules.get("shibokensupport.feature")
    original: Callable[[ModuleType], bool] | None = getattr(feature, "_mod_uses_pyside", None)
    if feature is None or original is None:
        return False
    if getattr(original, _MARK, False):
        return True

    def uses_pyside(module: ModuleType) -> bool:
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py"):
            return original(module)
        try:
            with open(path, "rb") as source:
                return b"PySide6" in source.read()
        except OSError:
            return original(module)

    setattr(uses_pyside, _MARK, True)
    uses_pyside.original = original  # type: ignore[attr-defined]
    feature._mod_uses_pyside = uses_pyside  # type: ignore[attr-defined]
    return True
