"""Work written as steps: a generator that yields between slices and returns its result.

`desktop.concurrency.tasks.run_in_steps` runs one on the UI thread between paints; `drain` runs one
to the end at once, for callers that are not on the UI thread (a worker, a test, the command
line)."""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

T = TypeVar("T")


def drain(steps: Generator[None, None, T]) -> T:
    """Run `steps` to the end; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: T = done.value
            return result
