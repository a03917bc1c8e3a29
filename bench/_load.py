"""A small closed-loop HTTP load generator: N workers on one httpx.AsyncClient, each sending the
next request as soon as the last one is answered, for a fixed time."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


async def _run(
    url: str, headers: dict[str, str], params: dict[str, str], concurrency: int,
    seconds: float, warmup: float,
) -> LoadResult:  # fmt: skip
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as client:
        result = LoadResult(0, 0, seconds)
        start = time.perf_counter()
        measure_from = start + warmup
        stop = measure_from + seconds

        async def worker() -> None:
            while True:
                sent = time.perf_counter()
                if sent >= stop:
                    return
                resp = await client.get(url, params=params)
                done = time.perf_counter()
                if sent >= measure_from and done <= stop:
                    result.requests += 1
                    result.latencies.append(done - sent)
                    if resp.status_code != 200:
                        result.errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return result


def run_load(
    url: str, *, headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
    concurrency: int = 16, seconds: float = 3.0, warmup: float = 0.5,
) -> LoadResult:  # fmt: skip
    return asyncio.run(_run(url, headers or {}, params or {}, concurrency, seconds, warmup))
