"""Entry point: `connected-accounts` (the window) and its sub-commands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

# Sub-commands that talk to a backend; with none configured, to the local service.
_BACKEND_COMMANDS = {"providers", "list", "connect", "report", "disconnect", "logout"}

NO_DISPLAY = "No display found. Use `connected-accounts --help` for the command line."
# Qt platform plugins that draw without a window system (tests, kiosks, remote frame buffers).
HEADLESS_PLATFORMS = {
    "offscreen",
    "minimal",
    "minimalegl",
    "vnc",
    "eglfs",
    "linuxfb",
    "vkkhrdisplay",
}


def display_missing(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """True when the window cannot open: on Linux and the BSDs, neither an X11 nor a Wayland
    display, and no headless Qt platform chosen. Checked before Qt loads, because Qt then
    aborts the process (exit 134) with advice about xcb libraries that does not help."""
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return False
    chosen = {p.split(":", 1)[0].strip() for p in env.get("QT_QPA_PLATFORM", "").split(";")}
    if chosen & HEADLESS_PLATFORMS:
        return False
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def window_args(argv: list[str]) -> argparse.Namespace | None:
    """The window's arguments when `argv` plainly asks for the window (only `--backend URL`,
    `--backend=URL`, `-v`, `--verbose`), else None and the full parser decides. The window
    then starts without importing the command line's modules (httpx, PyJWT, cryptography,
    rich: ~0.2 s and ~20 MiB before Qt even loads); anything unusual, `--help` included, goes
    through the full parser, which says the same as before."""
    backend: str | None = None
    verbose = False
    rest = list(argv)
    while rest:
        word = rest.pop(0)
        if word in ("-v", "--verbose"):
            verbose = True
        elif word == "--backend" and rest and not rest[0].startswith("-"):
            backend = rest.pop(0)
        elif word.startswith("--backend="):
            backend = word.split("=", 1)[1]
        else:
            return None
    return argparse.Namespace(backend=backend, verbose=verbose, command=None)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments; no sub-command opens the window (Qt is imported only then)."""
    words = sys.argv[1:] if argv is None else argv
    _start_local_service_early(words)
    from desktop.log import setup_logging

    args = window_args(words)
    if args is None:
        from desktop.cli.main import build_parser

        args = build_parser().parse_args(argv)
    setup_logging(verbose=args.verbose)
    if args.command is None:
        if display_missing():
            print(NO_DISPLAY, file=sys.stderr)
            return 2
        from desktop.app.bootstrap import run_gui

        return int(run_gui(args))
    from desktop.cli.main import run_command

    return run_command(args)


def _start_local_service_early(argv: list[str]) -> None:
    """A command that will need the local service finds or starts it on a thread while this
    process imports the rest (stdlib only so far): the first command of the day waits for the
    service's start once, not after its own imports (bench/cli_latency.py). The command's own
    `ensure()` then waits on the same start lock and finds it running; errors are its to say."""
    if any(a in ("-h", "--help", "--version") or a.startswith("--backend") for a in argv):
        return
    words = [a for a in argv if not a.startswith("-")]
    if not words or words[0] not in _BACKEND_COMMANDS:
        return
    if os.environ.get("CONNECTED_ACCOUNTS_BACKEND"):
        return
    from desktop.config import load_settings

    if load_settings().backend_url:
        return
    from desktop.account import localsvc

    localsvc.start_early()


if __name__ == "__main__":
    sys.exit(main())
