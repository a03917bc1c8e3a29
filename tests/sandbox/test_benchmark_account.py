"""Demo Ads' 100-campaign benchmark account is bench's, not a user's (issue 18): it shows up
only where `benchmark_account` asks for it, as bench/_support.py does."""

from __future__ import annotations

from backend.sandbox.config import SandboxConfig
from backend.sandbox.data import BENCHMARK_ACCOUNT
from tests.sandbox.conftest import start


def _names_and_insights(config: SandboxConfig) -> tuple[list[str], int]:
    for box in start(config):
        token = box.connect(user="Dana Demo")["access_token"]
        names = [a["name"] for a in box.api("/api/accounts", token).json()["data"]]
        params = {"since": "2026-11-01", "until": "2026-11-02"}
        status = box.api(f"/api/accounts/{BENCHMARK_ACCOUNT}/insights", token, **params)
        return names, status.status_code
    raise AssertionError("the sandbox did not start")


def test_benchmark_account_is_not_a_users_by_default() -> None:
    names, status = _names_and_insights(SandboxConfig())
    assert names  # Dana still has her shops
    assert not any("Benchmark" in n for n in names), names
    assert status == 404


def test_benchmark_account_appears_when_bench_asks_for_it() -> None:
    names, status = _names_and_insights(SandboxConfig(benchmark_account=True))
    assert "Benchmark — 100 campaigns" in names
    assert status == 200


def test_bench_sandbox_config_asks_for_it(tmp_path: object) -> None:
    import tomllib
    from pathlib import Path

    from bench._support import sandbox_toml

    path = sandbox_toml(Path(str(tmp_path)) / "sandbox.toml")
    table = tomllib.loads(path.read_text())["sandbox"]
    assert SandboxConfig.from_toml_table(table).benchmark_account is True
