"""A report's rows as typed column arrays (numpy), decoded straight from the response bytes.

A million-row report as Python objects (a list per row, an object per cell) takes about ten
times its JSON size in memory; as columns it takes less than its JSON: whole numbers and
decimals are int64 arrays (a decimal kept as an integer count of its column's smallest unit,
so "12.34" is 1234 at scale 2, shown again exactly, never through a float), text columns are
int32 codes into one table of the distinct strings (ids, names and dates repeat on every day).

Decoding works on windows of the bytes (the whole payload is never a str): a window's
complete rows are parsed by one `json.loads` of 64 KB (a short hold of the GIL, so a UI thread
waiting for it waits a ms or two, not the whole decode) and turned into columns at once; the
rows' Python objects live only that long.
The columns' kind is taken from the report's `columns` types (integer, money, decimal, percent:
numbers; anything else: text); a numeric column whose values do not fit (not a fixed number
of decimals, or over 18 characters) falls back to text for the whole column, exactly as sent.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from desktop.concurrency.steps import drain

NUMERIC = frozenset({"integer", "money", "decimal", "percent"})
PARTS_PER_STEP = 256
"""Column parts copied into the column's array per step at the end of a decode (~256 windows of
~400 rows: ~0.4 MB of int32 codes or ~0.8 MB of int64)."""
WINDOW = 64 * 1024
"""Bytes decoded per step: ~400 ad-level rows, ~1-2 ms of `json.loads`. Measured on the
million-row report: 64 KB decodes as fast as 128 or 256 KB (3.0-3.2 s vs 3.1-4.2 s) and holds
the GIL a quarter as long per step."""
NULL = np.iinfo(np.int64).min  # the null of an int64 column


@dataclass
class Column:
    """One column: `kind` "int" (values are `data` / 10**scale; `NULL` is null) or "text"
    (`data` are codes into the report's string table; -1 is null)."""

    key: str
    type: str
    kind: str
    scale: int = 0
    parts: list[npt.NDArray[Any]] = field(default_factory=list)
    data: npt.NDArray[Any] = field(default_factory=lambda: np.empty(0, np.int64))

    def cell(self, row: int) -> Any:
        """A numeric cell's JSON value: int for integers, the decimal's str, or None."""
        text = self.text(row, [])
        return int(text) if text is not None and self.type == "integer" else text

    def text(self, row: int, strings: list[Any]) -> Any:
        """The cell as the JSON had it (numbers as their decimal text), or None for null."""
        value = int(self.data[row])
        if self.kind == "text":
            return None if value < 0 else strings[value]
        if value == NULL:
            return None
        if self.scale == 0:
            return str(value)
        sign = "-" if value < 0 else ""
        whole, frac = divmod(abs(value), 10**self.scale)
        return f"{sign}{whole}.{frac:0{self.scale}d}"


@dataclass
class ColumnarRows:
    """The decoded rows: `columns` in the report's order, `strings` shared by text columns."""

    columns: list[Column]
    strings: list[Any]
    count: int

    def cell(self, row: int, column: int) -> Any:
        """The JSON value of a cell: int for integers, str for decimals and text, None."""
        col = self.columns[column]
        return col.text(row, self.strings) if col.kind == "text" else col.cell(row)

    def nbytes(self) -> int:
        return sum(c.data.nbytes for c in self.columns)

    def rows(self, sources: Iterable[int], columns: list[int]) -> list[list[Any]]:
        """The JSON cells of `columns` for each of the `sources` rows (CSV export, off the UI
        thread)."""
        return [[self.cell(row, c) for c in columns] for row in sources]

    def text_matches(self, column: int, needle: str, empty: str) -> npt.NDArray[np.bool_]:
        """Per row: does the cell's text (`empty` for null) contain `needle` (casefolded)?
        A text column is matched once per distinct string, then by its codes."""
        col = self.columns[column]
        if col.kind != "text":
            return np.fromiter(
                (needle in str(col.text(r, [])).casefold() for r in range(self.count)),
                np.bool_,
                self.count,
            )
        hits = np.empty(len(self.strings) + 1, np.bool_)
        hits[0] = needle in empty.casefold()
        hits[1:] = [needle in str(s).casefold() for s in self.strings]
        result: npt.NDArray[np.bool_] = hits[col.data.astype(np.int64) + 1]
        return result


Decoded = tuple[dict[str, Any], ColumnarRows]
"""A report: everything but its rows (the JSON object with "rows" left out), and the rows."""


class _Builder:
    def __init__(self, columns: list[dict[str, str]]) -> None:
        self.columns = [
            Column(c["key"], c.get("type", ""), "int" if c.get("type") in NUMERIC else "text")
            for c in columns
        ]
        for col in self.columns:
            col.scale = -1 if col.kind == "int" and col.type != "integer" else 0  # -1: unknown
        self.table: dict[Any, int] = {None: -1}  # a JSON value -> its code; null is -1
        self.strings: list[Any] = []  # by code: the JSON value (a str but in a fallback)
        self.count = 0

    def add(self, rows: list[list[Any]]) -> None:
        if not rows:
            return
        self.count += len(rows)
        for i, values in enumerate(zip(*rows, strict=True)):
            col = self.columns[i]
            if col.kind == "int" and not self._add_number(col, values):
                self._to_text(col)
            if col.kind == "text":
                col.parts.append(self._codes(values))

    def _add_number(self, col: Column, values: tuple[Any, ...]) -> bool:
        has_null = None in values  # one C scan; the common case then needs no check per cell
        if col.type == "integer":
            data = np.array(values if not has_null else [NULL if v is None else v for v in values])
            if data.dtype != np.int64:  # a string, a float, a bool, or past int64
                return False
            col.parts.append(data)
            return True
        sample = next((v for v in values if v is not None), None)
        if sample is not None and col.scale < 0:
            if not isinstance(sample, str):
                return False
            col.scale = len(sample) - sample.find(".") - 1 if "." in sample else 0
        decimals = _decimals(values, max(col.scale, 0))
        if decimals is None:
            return False
        col.parts.append(decimals)
        return True

    def _to_text(self, col: Column) -> None:
        """Re-encode the parts decoded so far as text (a rare, exact fallback)."""
        done = Column(col.key, col.type, "int", col.scale, data=np.concatenate(col.parts)) if (
            col.parts) else None  # fmt: skip
        values = [done.cell(r) for r in range(len(done.data))] if done else []
        col.kind, col.parts = "text", [self._codes(tuple(values))] if values else []

    def _codes(self, values: tuple[Any, ...]) -> npt.NDArray[np.int32]:
        table = self.table
        for v in dict.fromkeys(values):
            if v not in table:
                table[v] = len(self.strings)
                self.strings.append(v)
        return np.fromiter(map(table.__getitem__, values), np.int32, len(values))

    def finish(self) -> ColumnarRows:
        return drain(self.finish_steps())

    def finish_steps(self) -> Generator[None, None, ColumnarRows]:
        """Each column's parts made one array, yielding after every PARTS_PER_STEP parts copied.

        The array is allocated first and filled a slice at a time: its memory comes fresh from
        the system, and touching it is what costs (8 MB of page faults for a million int64).
        One `np.concatenate` of a column's ~2,500 parts held the GIL for 15-50 ms per column on
        this machine (the UI thread's heartbeat waited that long); a step here copies ~0.8 MB."""
        for col in self.columns:
            col.scale = max(col.scale, 0)
            dtype = np.int32 if col.kind == "text" else np.int64
            parts, col.parts = col.parts, []
            out = np.empty(self.count, dtype)
            at = 0
            for first in range(0, len(parts), PARTS_PER_STEP):
                group = parts[first : first + PARTS_PER_STEP]
                size = sum(map(len, group))
                np.concatenate(group, out=out[at : at + size])
                at += size
                yield
            assert at == self.count, (col.key, at, self.count)
            col.data = out
        return ColumnarRows(self.columns, self.strings, self.count)


def decode(data: bytes) -> Decoded:
    """(the report without its rows, the rows as columns) from the backend's report JSON.

    Raises ValueError (json.JSONDecodeError) for bytes that are not such a report."""
    return drain(decode_steps(data))


def decode_steps(data: bytes) -> Generator[None, None, Decoded]:
    """`decode`, yielding after each window (a worker lets the GIL go between them).

    The cyclic collector is off meanwhile: every window's row lists survive a young collection
    or two, and the million-row report then set off 16 full collections of 12-56 ms each (one
    C call holding the GIL: the UI thread froze that long). Nothing decoded here forms a cycle.
    """
    with _no_cyclic_gc():
        return (yield from _decode_steps(data))


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = True


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """gc disabled while any decode runs (a count: decodes on several workers may overlap);
    afterwards enabled again if it was before the first one."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


def _decode_steps(data: bytes) -> Generator[None, None, Decoded]:
    at = data.find(b'"rows":[')
    if at < 0:
        return from_report(_object(json.loads(data)))
    p = at + len(b'"rows":[')
    head = json.loads(data[:at] + b'"rows":[]}')
    if "columns" not in head:  # not the backend's order: decode it whole
        return from_report(_object(json.loads(data)))
    builder = _Builder(list(head.get("columns", [])))
    window = WINDOW
    while True:
        q = data.rfind(b"],[", p, p + window)
        rows = None
        while q > p and p + window < len(data):
            try:
                rows = json.loads(b"[" + data[p : q + 1] + b"]")
                break
            except ValueError:  # a "],[" inside a string: an earlier one is a row boundary
                q = data.rfind(b"],[", p, q)
        if rows is None:
            if p + window < len(data):
                window *= 2  # one row longer than the window
                continue
            break
        builder.add(rows)
        p = q + 2
        yield
    # The last rows, up to the array's end, then the rest of the report after it.
    text = data[p:].decode("utf-8")
    last, end = json.JSONDecoder().raw_decode("[" + text)
    builder.add(last)
    report = _object(json.loads(data[:at] + b'"rows":[]' + text[end - 1 :].encode()))
    del report["rows"]
    rows = yield from builder.finish_steps()
    return report, rows


_TEXT_BYTES = np.zeros(256, np.bool_)
_TEXT_BYTES[list(b"0123456789-.|")] = True


def _decimals(values: tuple[Any, ...], scale: int) -> npt.NDArray[np.int64] | None:
    """Decimal strings with exactly `scale` decimals (or null) as integers in units of
    10**-scale, exactly; None when any value is something else ("1.5" at scale 2, "1e3", "+1",
    a number, more than 18 characters): the column then falls back to text.

    All in C: the values are joined into one text, checked with numpy over its bytes (the
    point of each value sits `scale` places before its end, a minus only at its start), and
    read by numpy's text parser with the points taken out."""
    nulls = values.count(None)
    try:  # a null is written "0" for now: no point, so told apart below at scale > 0
        joined = "|".join(["0" if v is None else v for v in values] if nulls else values)
    except TypeError:  # not all strings
        return None
    raw = joined.encode()
    text = np.frombuffer(raw, np.uint8)
    if not _TEXT_BYTES[text].all():
        return None
    ends = np.flatnonzero(text == ord("|"))
    bars = ends
    starts, ends = np.empty(len(bars) + 1, np.int64), np.empty(len(bars) + 1, np.int64)
    starts[0], starts[1:] = 0, bars + 1  # (np.r_ costs more than the rest of this together)
    ends[:-1], ends[-1] = bars, len(raw)
    # At most 18 characters: at most 18 digits, below int64's 9.2e18.
    if len(starts) != len(values) or (ends - starts > 18).any() or (ends == starts).any():
        return None
    minus = np.flatnonzero(text == ord("-"))
    signed = np.zeros(len(starts), np.bool_)
    if len(minus):
        at = np.searchsorted(starts, minus)
        if not (starts[np.minimum(at, len(starts) - 1)] == minus).all():
            return None  # a minus inside a number
        signed[at] = True
    lead = starts + signed  # where each value's first digit must be
    points = np.flatnonzero(text == ord("."))
    if scale == 0:
        if len(points):
            return None
        point = ends  # where each value's whole part ends
        null = np.array([v is None for v in values]) if nulls else np.zeros(len(starts), np.bool_)
    else:
        owner = np.searchsorted(starts, points, side="right") - 1  # the value of each point
        if len(points) != len(values) - nulls or not (points == ends[owner] - scale - 1).all():
            return None
        point = ends.copy()
        point[owner] = points
        null = np.ones(len(starts), np.bool_)  # every value but a null has its point
        null[owner] = False
    present = ~null
    digits_before = point - lead
    if (digits_before[present] < 1).any():
        return None  # "-", ".50": no digit before the point
    leading_zero = (text[np.minimum(lead, len(raw) - 1)] == ord("0")) & (digits_before > 1)
    if leading_zero[present].any():
        return None  # "01.50" would come back as "1.50"
    digits = joined.replace(".", "") if scale else joined
    data = np.fromstring(digits, dtype=np.int64, sep="|")
    if len(data) != len(values) or (signed & (data == 0)).any():
        return None  # "-0.00" would come back as "0.00"
    data[null] = NULL
    return data


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("a report is a JSON object")
    return value


def from_report(report: dict[str, Any]) -> Decoded:
    """A report decoded already (its rows as lists) as `decode` gives it."""
    head = {k: v for k, v in report.items() if k != "rows"}
    return head, _columnar(list(report.get("columns") or []), list(report.get("rows") or []))


def _columnar(columns: list[dict[str, str]], rows: list[list[Any]]) -> ColumnarRows:
    builder = _Builder(columns)
    builder.add(rows)
    return builder.finish()
