"""The command-line twins of the window's actions: `check` (Check now), `accounts` (the
account hierarchy) and `devices` (Settings → Signed-in devices)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from desktop.cli.backend import BackendContext, CliError, resolve_connection
from desktop.cli.output import cell, connections_table, table, to_json
from desktop.config import resolve_backend_url
from desktop.models.expiry import local_time


def add_parsers(sub: Any) -> None:
    """Register `check`, `accounts` and `devices` on the top-level sub-parsers."""
    check = sub.add_parser("check", help="check connections at the provider now (Check now)")
    check.add_argument("connection", nargs="?", help="connection id or prefix (default: all)")
    check.add_argument("--json", action="store_true", help="the API's own objects")

    accounts = sub.add_parser("accounts", help="the ad accounts a connection covers")
    accounts.add_argument("connection", help="connection id or a unique prefix")
    accounts.add_argument("--json", action="store_true", help="the API's own objects")

    devices = sub.add_parser("devices", help="devices signed in to your account")
    devices.add_argument("--json", action="store_true", help="the API's own objects")
    actions = devices.add_subparsers(dest="action")
    sign_out = actions.add_parser("sign-out", help="sign a device out")
    sign_out.add_argument("id", help="device id (see: connected-accounts devices)")


def run_check(args: argparse.Namespace) -> int:
    """Like the window's Check now: GET /v1/connections/{id}?check=true for one or for every
    connection that is not disconnected. Exit 4 when one needs reconnecting, 5 on errors."""
    with BackendContext(resolve_backend_url(args.backend)) as ctx:
        if args.connection is not None:
            targets = [resolve_connection(ctx.api, args.connection)]
        else:
            targets = [c for c in ctx.api.connections() if c.status != "disconnected"]
        checked = [ctx.api.connection(c.id, check=True).body for c in targets]
    if args.json:
        print(to_json(checked[0] if args.connection is not None else checked))
    elif not checked:
        print("No connections to check. Connect one with: connected-accounts connect PROVIDER")
    else:
        print(connections_table(checked))
    statuses = {c.get("status") for c in checked}
    if "needs_reconnect" in statuses:
        return 4
    return 5 if "error" in statuses else 0


def run_accounts(args: argparse.Namespace) -> int:
    with BackendContext(resolve_backend_url(args.backend)) as ctx:
        connection = resolve_connection(ctx.api, args.connection)
        accounts = ctx.api.accounts(connection.id)
    print(to_json(accounts) if args.json else accounts_table(accounts))
    return 0


def run_devices(args: argparse.Namespace) -> int:
    with BackendContext(resolve_backend_url(args.backend)) as ctx:
        if args.action == "sign-out":
            devices = ctx.api.devices()
            device = _device(devices, args.id)
            if device.get("current"):
                raise CliError(
                    "That is this device; sign it out with: connected-accounts logout", 2
                )
            ctx.api.sign_out_device(str(device["id"]))
            print(f"Signed out {device.get('name')}.")
            return 0
        devices = ctx.api.devices()
    print(to_json(devices) if args.json else devices_table(devices))
    return 0


def _device(devices: Sequence[dict[str, Any]], text: str) -> dict[str, Any]:
    """A device by its id or a unique id prefix."""
    text = text.strip()
    exact = [d for d in devices if d.get("id") == text]
    matches = exact or [d for d in devices if text and str(d.get("id", "")).startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CliError(f"No signed-in device has an id starting with {text!r} (see: devices).", 2)
    raise CliError(f"{len(matches)} devices start with {text!r}; give more of the id.", 2)


def devices_table(devices: Sequence[dict[str, Any]]) -> str:
    rows = [
        [
            str(d.get("id", "")),
            f"{d.get('name')}{' (this device)' if d.get('current') else ''}",
            local_time(d.get("last_seen_at")),
            local_time(d.get("created_at")),
        ]
        for d in devices
    ]
    return table(["ID", "Name", "Last seen", "Signed in"], rows, [False] * 4)


def account_tree(accounts: Sequence[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """The accounts in hierarchy order with their depth: each manager, then its clients
    under it (Google Ads manager accounts); a parent outside the list counts as none."""
    ids = {str(a.get("id")) for a in accounts}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for a in accounts:
        parent = a.get("parent_id")
        key = str(parent) if parent is not None and str(parent) in ids else None
        children.setdefault(key, []).append(a)
    out: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()

    def walk(parent: str | None, depth: int) -> None:
        for a in children.get(parent, []):
            account_id = str(a.get("id"))
            if account_id in seen:  # a cycle in bad data must not loop forever
                continue
            seen.add(account_id)
            out.append((depth, a))
            walk(account_id, depth + 1)

    walk(None, 0)
    out.extend((0, a) for a in accounts if str(a.get("id")) not in seen)
    return out


def accounts_table(accounts: Sequence[dict[str, Any]]) -> str:
    if not accounts:
        return "This connection covers no ad accounts."
    rows = [
        [
            "  " * depth + str(a.get("name") or a.get("id")),
            str(a.get("id")),
            "manager" if a.get("is_manager") else "",
            cell(a.get("currency")),
            cell(a.get("time_zone")),
            cell(a.get("login_customer_id")),
        ]
        for depth, a in account_tree(accounts)
    ]
    headers = ["Name", "ID", "Kind", "Currency", "Time zone", "Reached through"]
    return table(headers, rows, [False] * len(headers))
