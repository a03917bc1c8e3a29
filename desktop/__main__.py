"""Entry point: `connected-accounts` (the window) and its sub-commands."""

from __future__ import annotations

import sys

from desktop.cli import build_parser, run_command
from desktop.log import setup_logging


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments; no sub-command opens the window (Qt is imported only then)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(verbose=args.verbose)
    if args.command is None:
        from desktop.app import run_gui

        return int(run_gui(args))
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
