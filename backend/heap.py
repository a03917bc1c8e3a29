"""Once a server process has started, what it built is moved out of the garbage collector's way.

Everything made at start (modules, the FastAPI app and its routes, SQLAlchemy's metadata and
compiled statements, the providers' clients) lives as long as the process. CPython's cyclic
collector would still walk all of it in every full collection, while each request only adds
short-lived objects. `gc.freeze()` (Python's documentation recommends it for long-lived
servers) moves what exists at that moment to a permanent generation the collector no longer
scans; objects made later are collected as before.
(bench/backend_overhead.py: the report path, alternating with and without, same run.)
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect what the start left behind, then freeze the rest (call once, when serving)."""
    gc.collect()
    gc.freeze()
