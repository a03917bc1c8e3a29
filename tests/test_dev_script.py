"""`./dev` (issue 18 "Setup"): `app` installs only what the app needs, test-only Debian packages
come with `test`/`setup`, and an unchanged clone installs nothing the second time.

The real script runs in a copy of the repository's top level with stand-ins for what it calls
(`dpkg-query`, `apt-get`, the venv's python) that record their arguments, so the test sees
exactly which packages each command would install, and that a second run installs nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_ONLY = {"chromium", "chromium-driver", "postgresql-client", "xvfb", "gnome-keyring"}

RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
{body}
"""


def _tool(folder: Path, name: str, log: Path, body: str = "exit 0") -> None:
    path = folder / name
    path.write_text(RECORDER.format(log=log, body=body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _clone(tmp: Path) -> tuple[Path, Path, dict[str, str]]:
    repo = tmp / "repo"
    repo.mkdir()
    for name in ("dev", "pyproject.toml"):
        shutil.copy2(ROOT / name, repo / name)
    for package in ("desktop", "backend"):
        (repo / package).mkdir()
    log = tmp / "calls.log"
    fake_bin = tmp / "bin"
    fake_bin.mkdir()
    _tool(fake_bin, "dpkg-query", log, "exit 1")  # nothing is installed yet
    _tool(fake_bin, "apt-get", log)
    # `python3 -m venv DIR` makes DIR/bin/python: another recorder.
    venv_made = '[ "$2" = venv ] && mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; exit 0'
    _tool(fake_bin, "python3", log, venv_made)
    venv = repo / ".venv"
    env = {
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "CA_VENV": str(venv),
        "HOME": str(tmp),
    }
    return repo, log, env


def _run(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(repo / "dev"), *args],
        capture_output=True, text=True, env=env, cwd=repo, timeout=60, check=False,
    )  # fmt: skip


def _calls(log: Path) -> list[str]:
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def _installed_debian(calls: list[str]) -> set[str]:
    return {w for c in calls if c.startswith("apt-get") and " install " in c for w in c.split()}


def test_second_setup_on_an_unchanged_clone_installs_nothing_and_says_nothing(
    tmp_path: Path,
) -> None:
    repo, log, env = _clone(tmp_path)
    first = _run(repo, env, "setup")
    assert first.returncode == 0, first.stderr
    calls = _calls(log)
    assert _installed_debian(calls) >= TEST_ONLY
    assert any("pip install" in c and "[test]" in c for c in calls), calls
    second = _run(repo, env, "setup")
    assert second.returncode == 0, second.stderr
    assert (second.stdout, second.stderr) == ("", "")
    again = _calls(log)
    assert not any(c.startswith(("apt-get", "dpkg-query")) or "pip" in c for c in again), again
    # A changed pyproject.toml is a reason to install again.
    with (repo / "pyproject.toml").open("a") as fh:
        fh.write("\n# a new dependency\n")
    assert _run(repo, env, "setup").returncode == 0
    assert any("pip install" in c for c in _calls(log))


def test_app_installs_only_what_the_app_needs(tmp_path: Path) -> None:
    repo, log, env = _clone(tmp_path)
    venv_bin = Path(env["CA_VENV"]) / "bin"
    first = _run(repo, env, "app", "--version")
    # The venv's connected-accounts does not exist in this stand-in world: exec fails last.
    assert "connected-accounts" in first.stderr
    calls = _calls(log)
    debian = _installed_debian(calls)
    assert "libxcb-cursor0" in debian
    assert not debian & TEST_ONLY, debian & TEST_ONLY
    pip = [c for c in calls if "pip install" in c and " -e " in c]
    assert pip, calls
    assert not any("[test]" in c for c in pip)
    # Once set up, `./dev app` goes straight to the app.
    _tool(venv_bin, "connected-accounts", log)
    second = _run(repo, env, "app", "--version")
    assert second.returncode == 0, second.stderr
    calls = _calls(log)
    assert calls[-1] == "connected-accounts --version"
    assert not any(c.startswith(("apt-get", "dpkg-query")) or "pip" in c for c in calls), calls
