"""`connected-accounts` sub-commands (the window is the default when none is given)."""

from __future__ import annotations

import argparse
import getpass
import sys
import webbrowser
from datetime import date
from pathlib import Path
from typing import Any

from desktop import __version__
from desktop.account.localsvc import LocalServiceError
from desktop.account.secure_store import open_store
from desktop.account.session import Session
from desktop.api.errors import ApiError
from desktop.cli import twins
from desktop.cli.backend import BackendContext, CliError, exit_code_for, resolve_connection
from desktop.cli.output import (
    connection_summary,
    connections_table,
    providers_table,
    to_json,
)
from desktop.cli.report import add_report_arguments, check_report_arguments, write_report
from desktop.config import COMMAND_LINE, BackendUrlRefused, device_name, resolve_backend_url
from desktop.connect.flow import ConnectRefused, run_connect
from desktop.connect.loopback import ReceiverCancelled, ReceiverTimeout
from desktop.models.connection import Connection

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
UNAVAILABLE_ERRORS = {"server_error", "temporarily_unavailable"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connected-accounts",
        description="Connect ad-platform accounts, view ads reports, disconnect.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--backend", metavar="URL", help="companion backend (default: local)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command")

    login = sub.add_parser("login", help="sign in to a backend")
    login.add_argument("email")
    login.add_argument("--password-stdin", action="store_true", help="read the password on stdin")
    sub.add_parser("logout", help="sign this device out")
    for name, text in (("providers", "providers you can connect"), ("list", "your connections")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--json", action="store_true", help="the API's own objects")

    connect = sub.add_parser("connect", help="connect an account (opens your browser)")
    connect.add_argument("provider")
    connect.add_argument("--no-browser", action="store_true", help="print the address instead")
    connect.add_argument("--timeout", type=_positive, default=300.0, metavar="S")
    connect.add_argument("--json", action="store_true")

    report = sub.add_parser("report", help="an ads report")
    add_report_arguments(report)

    disconnect = sub.add_parser("disconnect", help="revoke access and remove a connection")
    disconnect.add_argument("connection")
    disconnect.add_argument("--yes", action="store_true", help="do not ask to confirm")
    disconnect.add_argument("--forget", action="store_true", help="drop a revocation-pending one")
    disconnect.add_argument("--json", action="store_true", help="the API's own answer")
    twins.add_parsers(sub)

    sub.add_parser("install-desktop-entry", help="add the app to your desktop's menu")

    service = sub.add_parser("service", help="the local companion service on this computer")
    actions = service.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="running or not, its address, pid and uptime")
    status.add_argument("--json", action="store_true")
    actions.add_parser("start", help="start it now (commands and the window start it anyway)")
    actions.add_parser("stop", help="stop it (it also stops by itself when idle)")
    return parser


def run_command(args: argparse.Namespace) -> int:
    """Run one sub-command; errors become plain words on stderr and the README's exit codes."""
    try:
        return int(COMMANDS[args.command](args))
    except CliError as exc:
        _err(str(exc))
        return exc.exit_code
    except BackendUrlRefused as exc:
        _err(str(exc))
        return 2
    except ApiError as exc:
        _err(str(exc))
        return exit_code_for(exc)
    except ConnectRefused as exc:
        _err(str(exc))
        if exc.error == "access_denied":
            return 6
        return 5 if exc.error in UNAVAILABLE_ERRORS else 1
    except (ReceiverTimeout, ReceiverCancelled) as exc:
        _err(str(exc))
        return 6
    except LocalServiceError as exc:
        _err(str(exc))
        return 5
    except KeyboardInterrupt:
        _err("Cancelled.")
        return 6


def _login(args: argparse.Namespace) -> int:
    url = resolve_backend_url(args.backend)
    if url is None:
        raise CliError(
            "The local service on this computer signs you in by itself. "
            "To sign in to a team backend, add --backend URL.",
            2,
        )
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {args.email}: ")
    if not password:
        raise CliError("No password given.", 2)
    session = Session(url, open_store())
    try:
        session.login(args.email, password, device_name=device_name(COMMAND_LINE))
    finally:
        session.close()
    print(f"Signed in to {url} as {session.user_email}.")
    if session.persistent:
        print(f"Your sign-in is kept in the {session.storage}.")
    else:
        _err(
            f"Your sign-in is kept in memory only: {session.storage_reason} "
            "Each command will need you to sign in again."
        )
    return 0


def _logout(args: argparse.Namespace) -> int:
    url = resolve_backend_url(args.backend)
    problem: str | None = None
    if url is None:
        with BackendContext(url) as ctx:
            if ctx.session is not None:
                problem = ctx.session.logout()
    else:
        # No BackendContext: it renews the sign-in first, which fails when the backend is
        # unreachable, and signing out on this device must work all the same.
        session = Session(url, open_store())
        try:
            if not session.restore(renew=False):
                print(f"This device was not signed in to {url}.")
                return 0
            problem = session.logout()
        finally:
            session.close()
    if problem is not None:
        print(
            f"Signed out on this device, but the backend could not be told ({problem}). "
            "It still counts this device as signed in until the sign-in expires: sign it out "
            "from another of your devices, or have the backend's operator run set-password.",
            file=sys.stderr,
        )
        return 5
    print("Signed out on this device and at the backend.")
    return 0


def _providers(args: argparse.Namespace) -> int:
    with BackendContext(resolve_backend_url(args.backend)) as ctx:
        providers = ctx.api.providers()
    bodies = [p.body for p in providers]  # the tables read the backend's own words
    print(to_json(bodies) if args.json else providers_table(bodies))
    return 0


def _list(args: argparse.Namespace) -> int:
    with BackendContext(resolve_backend_url(args.backend)) as ctx:
        connections = ctx.api.connections()
    bodies = [c.body for c in connections]
    print(to_json(bodies) if args.json else connections_table(bodies))
    return 0


def _connect(args: argparse.Namespace) -> int:
    def show_url(url: str) -> None:
        if args.no_browser:
            print(to_json({"authorization_url": url}).replace("\n", "") if args.json else url)
            sys.stdout.flush()
        else:
            _err(f"Opening your browser. If it does not open, visit:\n{url}")

    def open_browser(url: str) -> object:
        return None if args.no_browser else webbrowser.open(url)

    with BackendContext(resolve_backend_url(args.backend)) as ctx:
        if not args.no_browser:
            _err("Waiting for you to finish in the browser (Ctrl-C to cancel)…")
        connection = run_connect(
            ctx.api, args.provider, open_browser=open_browser, on_url=show_url, timeout=args.timeout
        )
    print(to_json(connection.body) if args.json else connection_summary(connection.body))
    return 4 if connection.status == "needs_reconnect" else 0


def _report(args: argparse.Namespace) -> int:
    check_report_arguments(args)
    with BackendContext(resolve_backend_url(args.backend)) as ctx:
        connection = resolve_connection(ctx.api, args.connection)
        accounts = list(dict.fromkeys(args.account or []))
        if not accounts and not args.all_accounts:
            only = _only_account(connection)
            accounts = [only] if only else []
        report = ctx.api.report(
            connection.id,
            account=None,
            accounts=accounts,
            all_accounts=args.all_accounts,
            since=args.since,
            until=args.until,
            preset=args.preset,
            level=args.level,
            breakdowns=list(dict.fromkeys(args.breakdown or [])),
            time=args.time,
            metrics=args.metrics,
            compare=args.compare,
        )
    write_report(report, args)
    return 0


def _disconnect(args: argparse.Namespace) -> int:
    with BackendContext(resolve_backend_url(args.backend)) as ctx:
        connection = resolve_connection(ctx.api, args.connection)
        name = f"{connection.provider_name} — {connection.display_name}"
        if not args.yes:
            if not sys.stdin.isatty():
                raise CliError(f"Add --yes to disconnect {name}.", 2)
            answer = input(f"Disconnect {name}? This revokes access at the provider. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                _err("Nothing was changed.")
                return 6
        result = ctx.api.disconnect(connection.id, forget=args.forget)
    print(to_json(result.body) if args.json else result.message or f"Disconnected {name}.")
    return 5 if result.revocation_pending else 0


def _install_desktop_entry(args: argparse.Namespace) -> int:
    from desktop.cli.install import install_desktop_entry

    for path in install_desktop_entry(RESOURCES):
        print(f"Installed {path}")
    return 0


def _service(args: argparse.Namespace) -> int:
    from desktop.cli.service import run_service

    return run_service(args)


COMMANDS: dict[str, Any] = {
    "login": _login,
    "logout": _logout,
    "providers": _providers,
    "list": _list,
    "connect": _connect,
    "report": _report,
    "disconnect": _disconnect,
    "install-desktop-entry": _install_desktop_entry,
    "service": _service,
    "check": twins.run_check,
    "accounts": twins.run_accounts,
    "devices": twins.run_devices,
}


def _only_account(connection: Connection) -> str | None:
    accounts = connection.accounts
    if len(accounts) <= 1:
        return accounts[0].id if accounts else None
    ids = ", ".join(a.id for a in accounts)
    raise CliError(f"This connection covers several ad accounts; add --account (one of: {ids}).", 2)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
