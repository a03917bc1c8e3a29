"""`python -m bench [name …]`: run the benchmark scripts, each in its own process.

Every script prints one JSON object on its last stdout line; this prints them as one JSON
object keyed by script name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ORDER = [
    "cold_start",
    "report_load",
    "ui_stall",
    "backend_overhead",
    "refresh_storm",
    "connect_latency",
    "cli_latency",
    "report_scale",
]


def main(argv: list[str]) -> int:
    names = argv or [n for n in ORDER if (HERE / f"{n}.py").exists()]
    results: dict[str, object] = {}
    failed = False
    for name in names:
        proc = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"], capture_output=True, text=True, check=False
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("{")]
        if proc.returncode != 0 or not lines:
            failed = True
            results[name] = {"error": proc.stderr.strip().splitlines()[-5:]}
        else:
            results[name] = json.loads(lines[-1])
        print(f"{name}: done", file=sys.stderr)
    print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
