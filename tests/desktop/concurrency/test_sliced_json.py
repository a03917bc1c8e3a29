"""desktop/concurrency/sliced_json.py decodes and encodes exactly as the json module does, element
by element.

Rule: the UI thread never waits more than a frame (the brief's standards), and a garbled answer
from the backend is a clear error, never a crash (design: "HTTP API"; tests/faults covers the
client). Equivalence with `json` is what lets the client and the cache use it for every answer.
"""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.concurrency import sliced_json

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


def _as_lists(value: Any) -> Any:
    """Tuples (the rows sliced_json returns) compared as the lists json returns."""
    if isinstance(value, tuple | list):
        return [_as_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    return value


@settings(max_examples=300)
@given(values, st.sampled_from([None, 1, 2]), st.sampled_from([(",", ":"), (", ", ": ")]))
def test_loads_equals_json_loads_for_any_document(value: Any, indent: Any, separators: Any) -> None:
    text = json.dumps(value, indent=indent, separators=separators)
    assert _as_lists(sliced_json.loads(text)) == json.loads(text)
    assert _as_lists(sliced_json.loads(f" \n{text}\t ".encode())) == json.loads(text)


@settings(max_examples=300)
@given(values)
def test_dumps_reads_back_as_the_same_value(value: Any) -> None:
    assert json.loads(sliced_json.dumps(value)) == value


def test_long_lists_are_encoded_in_slices_with_every_element_kept() -> None:
    rows = [[i, f"c{i}", "1.50"] for i in range(sliced_json.SLICE * 2 + 7)]
    report = {"columns": ["a"], "rows": rows, "totals": {"spend": "3.00"}}
    assert json.loads(sliced_json.dumps(report)) == report
    assert json.loads(sliced_json.dumps(rows)) == rows


def _mutations(text: str) -> st.SearchStrategy[str]:
    """`text` with a character dropped, doubled or replaced by JSON punctuation."""
    if not text:
        return st.just(text)
    return st.tuples(
        st.integers(0, len(text) - 1), st.sampled_from(["", ",", "]", "}", ":", '"', " ", "[["])
    ).map(lambda cut: text[: cut[0]] + cut[1] + text[cut[0] + 1 :])


@settings(max_examples=500)
@given(st.one_of(st.text(max_size=40), values.map(json.dumps).flatmap(_mutations)))
def test_garbage_fails_exactly_when_json_fails(text: str) -> None:
    try:
        expected = json.loads(text)
    except (ValueError, RecursionError) as exc:
        with pytest.raises(type(exc)):
            sliced_json.loads(text)
    else:
        # Compared as JSON text: json accepts NaN, and NaN != NaN as a value.
        assert json.dumps(_as_lists(sliced_json.loads(text))) == json.dumps(expected)


def test_bytes_that_are_not_utf8_are_a_json_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        sliced_json.loads(b'{"rows": ["\xff"]}')


def test_deep_nesting_is_a_recursion_error_as_with_json() -> None:
    text = '{"rows": [' + "[" * 100_000 + "]" * 100_000 + "]}"
    with pytest.raises(RecursionError):
        sliced_json.loads(text)


def test_report_rows_leave_the_garbage_collectors_work() -> None:
    """Rows come back as tuples of plain values, which CPython untracks at the first collection:
    a big report no longer makes every full collection (a stall on any thread) scan it."""
    rows = [[f"2026-01-{i % 28 + 1:02d}", i, "12.50", None] for i in range(5000)]
    report = sliced_json.loads(json.dumps({"rows": rows, "totals": {}}))
    assert all(type(row) is tuple for row in report["rows"])
    gc.collect()
    assert not any(gc.is_tracked(row) for row in report["rows"])
    # json.loads's lists stay tracked, which is the stall this module avoids.
    assert all(gc.is_tracked(row) for row in json.loads(json.dumps(rows)))
