"""`connected-accounts service status [--json] | start | stop`: the local companion service."""

from __future__ import annotations

import argparse
import json

from desktop.account import localsvc


def run_service(args: argparse.Namespace) -> int:
    if args.action == "status":
        return _status(json_output=args.json)
    if args.action == "start":
        running = localsvc.ensure()
        print(f"The local service runs at {running.url} (process {running.info.pid}).")
        return 0
    stopped = localsvc.stop()
    if stopped is None:
        print("The local service was not running.")
    else:
        print(f"Stopped the local service (process {stopped.info.pid}).")
    return 0


def _status(*, json_output: bool) -> int:
    status = localsvc.status()
    if json_output:
        print(json.dumps(status, indent=2))
        return 0 if status["running"] else 1
    idle = _duration(float(status["idle_timeout"]))
    if not status["running"]:
        print("The local service is not running. Any command or the window starts it.")
        print(f"It stops by itself after {idle} without a client.")
        return 1
    print(f"The local service is running at {status['url']} (process {status['pid']}).")
    print(f"Up for {_duration(float(status['uptime']))}; stops after {idle} without a client.")
    vault = status.get("vault_key") or {}
    if vault.get("kind") == "keyring":
        print(f"Its vault key is in the {vault.get('where')}.")
    elif vault.get("kind") == "file":
        print(f"Its vault key is in the file {vault.get('where')} (no system keyring).")
    print(f"Log: {status['log']}")
    return 0


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 120:
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
