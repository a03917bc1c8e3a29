"""Command-line latency on the local companion service (real processes, a private D-Bus
session with gnome-keyring as on a desktop, private runtime and data folders).

- `connected-accounts list` with the service running vs `connected-accounts --help`,
  alternating in the same run. Target: list <= 2x help (medians).
- The first command, which has to start the service (stopped before each run, its database
  already there, as after an idle stop): `connected-accounts list`. Target: <= 1.5 s (median).
The very first command on a fresh data folder (migrations, new keys) is reported, untargeted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._support import ROOT, emit, median
from tests.support.localsvc import LocalHome

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
LIST_VS_HELP = 2.0
FIRST_COMMAND_S = 1.5


def _command() -> list[str]:
    """The installed `connected-accounts` script when there is one (as a user runs it)."""
    script = Path(sys.executable).with_name("connected-accounts")
    return [str(script)] if script.exists() else [sys.executable, "-m", "desktop"]


def timed(home: LocalHome, *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [*_command(), *args], env=home.env, cwd=ROOT, capture_output=True, check=False
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{args}: exit {done.returncode}: {done.stderr.decode()[-2000:]}")
    return took


def main() -> None:
    # As an installed wheel (and `./dev setup`) has them: with PYTHONDONTWRITEBYTECODE set,
    # every process would compile our modules again.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "desktop", "backend", "tests/support"],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        home = LocalHome(Path(tmp))
        try:
            fresh_s = timed(home, "list")
            keyring = home.status()["vault_key"]["kind"] == "keyring"
            timed(home, "list")  # warm: the device session is stored, caches are hot
            help_s: list[float] = []
            list_s: list[float] = []
            first_s: list[float] = []
            for _ in range(RUNS):
                help_s.append(timed(home, "--help"))
                list_s.append(timed(home, "list"))
            for _ in range(RUNS):
                home.cli("service", "stop")
                first_s.append(timed(home, "list"))
                help_s.append(timed(home, "--help"))
                list_s.append(timed(home, "list"))
        finally:
            home.close()
    help_ms, list_ms, first_ms = (median(v) * 1000 for v in (help_s, list_s, first_s))
    ratio = list_ms / help_ms
    emit({
        "benchmark": "cli_latency",
        "help_ms": round(help_ms, 1),
        "list_ms": round(list_ms, 1),
        "list_vs_help": {
            "value": round(ratio, 2), "target": f"<= {LIST_VS_HELP:g}x",
            "ok": ratio <= LIST_VS_HELP,
        },
        "first_command_ms": {
            "value": round(first_ms, 1), "target": f"<= {FIRST_COMMAND_S * 1000:.0f} ms",
            "ok": first_ms <= FIRST_COMMAND_S * 1000,
        },
        "fresh_data_folder_first_command_ms": round(fresh_s * 1000, 1),
        "vault_key_in_keyring": keyring,
        "help_ms_each": [round(s * 1000, 1) for s in help_s],
        "list_ms_each": [round(s * 1000, 1) for s in list_s],
        "first_command_ms_each": [round(s * 1000, 1) for s in first_s],
        "target": f"list <= {LIST_VS_HELP:g}x help; first command <= {FIRST_COMMAND_S:g} s",
        "ok": ratio <= LIST_VS_HELP and first_ms <= FIRST_COMMAND_S * 1000,
        "runs": RUNS,
        "load_average": round(os.getloadavg()[0], 2),
    })  # fmt: skip


if __name__ == "__main__":
    main()
