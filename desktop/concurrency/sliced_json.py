"""JSON for big answers, decoded and encoded in slices.

`json.loads` of a 100,000-row report (about 9 MB) is one C call that holds the GIL for a fifth
of a second, so even on a worker thread it freezes the UI thread that long. Here the top-level
containers are walked in Python and each element (a report row, a connection) is decoded or
encoded by the C scanner on its own, so the interpreter can hand the GIL to the UI thread
between elements.

The other stall is the cyclic garbage collector: a million freshly decoded row lists make every
full collection scan them all, one C call of 50-200 ms on whichever thread allocates next. So an
array that is an element of a top-level array (a report row) comes back as a tuple: CPython stops
tracking a tuple of plain values after its first collection, and the rows leave the collector's
work for good. Otherwise results and errors are those of `json.loads`; `dumps` is a compact
`json.dumps`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from typing import Any

from desktop.concurrency.steps import drain

_decoder = json.JSONDecoder()
_raw_decode = _decoder.raw_decode
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_SPACE = frozenset(" \t\n\r")
SLICE = 200
"""Elements encoded per C call (about 3 ms of a report's rows)."""


def loads(data: bytes | bytearray | str) -> Any:
    """`json.loads`, one top-level element at a time. Raises `json.JSONDecodeError` (a
    ValueError, also for bytes that are not UTF-8) or RecursionError, as `json.loads` does."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError("Not UTF-8 text", "", exc.start) from None
    else:
        text = data
    i = _skip(text, 0)
    value, i = _value(text, i)
    i = _skip(text, i)
    if i != len(text):
        raise json.JSONDecodeError("Extra data", text, i)
    return value


def dumps(value: Any) -> str:
    """Compact `json.dumps`; top-level lists (and lists in a top-level object) go in slices."""
    return drain(dumps_steps(value))


def dumps_steps(value: Any) -> Generator[None, None, str]:
    """`dumps`, as steps: yields after each slice and returns the text (for
    `desktop.concurrency.tasks.run_in_steps`, which runs it on the UI thread between paints)."""
    if not isinstance(value, dict):
        return (yield from _dumps_steps(value))
    parts = []
    for k, v in value.items():
        parts.append(f"{json.dumps(str(k))}:{(yield from _dumps_steps(v))}")
    return "{" + ",".join(parts) + "}"


def _dumps_steps(value: Any) -> Generator[None, None, str]:
    if not isinstance(value, list) or len(value) <= SLICE:
        return json.dumps(value, separators=(",", ":"))
    parts = []
    for i in range(0, len(value), SLICE):
        parts.append(json.dumps(value[i : i + SLICE], separators=(",", ":"))[1:-1])
        yield
    return "[" + ",".join(parts) + "]"


def _skip(text: str, i: int) -> int:
    if i < len(text) and text[i] in _SPACE:
        return _WHITESPACE.match(text, i).end()  # type: ignore[union-attr]  # always matches
    return i


def _value(text: str, i: int) -> tuple[Any, int]:
    opener = text[i : i + 1]
    if opener == "{":
        return _object(text, i + 1)
    if opener == "[":
        return _array(text, i + 1)
    return _raw_decode(text, i)


def _array(text: str, i: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    append = items.append
    i = _skip(text, i)
    if text[i : i + 1] == "]":
        return items, i + 1
    while True:
        item, i = _raw_decode(text, i)
        append(tuple(item) if type(item) is list else item)
        if text[i : i + 1] == ",":  # compact JSON: the common case, no whitespace
            i += 1
            if text[i : i + 1] in _SPACE:
                i = _skip(text, i)
            continue
        i = _skip(text, i)
        delimiter = text[i : i + 1]
        if delimiter == "]":
            return items, i + 1
        if delimiter != ",":
            raise json.JSONDecodeError("Expecting ',' delimiter", text, i)
        i = _skip(text, i + 1)


def _object(text: str, i: int) -> tuple[dict[str, Any], int]:
    result: dict[str, Any] = {}
    i = _skip(text, i)
    if text[i : i + 1] == "}":
        return result, i + 1
    while True:
        if text[i : i + 1] != '"':
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, i)
        key, i = _raw_decode(text, i)
        i = _skip(text, i)
        if text[i : i + 1] != ":":
            raise json.JSONDecodeError("Expecting ':' delimiter", text, i)
        i = _skip(text, i + 1)
        if text[i : i + 1] == "[":
            result[key], i = _array(text, i + 1)
        else:
            result[key], i = _raw_decode(text, i)
        i = _skip(text, i)
        delimiter = text[i : i + 1]
        if delimiter == "}":
            return result, i + 1
        if delimiter != ",":
            raise json.JSONDecodeError("Expecting ',' delimiter", text, i)
        i = _skip(text, i + 1)
