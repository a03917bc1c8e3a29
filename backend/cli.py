"""`connected-accounts-backend`: serve | create-user | set-password | migrate | rotate-key …"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import socket
import sys
from pathlib import Path
from typing import Any

from backend import __version__
from backend.config import Settings
from backend.files import prepare_storage, use_private_umask
from backend.heap import settle_heap
from backend.logging_setup import setup_logging

log = logging.getLogger("connected_accounts.backend")


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    values: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        values["database_url"] = args.database_url
    if getattr(args, "config", None):
        values["config"] = args.config
    if getattr(args, "embedded", False):
        values["embedded"] = True
    values.update(overrides)
    return Settings(**values)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in the data folder)")
    p.add_argument("--config", type=Path, help="provider configuration (TOML)")
    p.add_argument("--embedded", action="store_true", help="the desktop's local companion mode")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="connected-accounts-backend", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API server")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 lets the OS choose")
    serve.add_argument("--public-url", help="base URL clients reach this backend at")
    serve.add_argument("--sandbox", action="store_true", help="serve Demo Ads under /sandbox")
    serve.add_argument(
        "--insecure-http",
        action="store_true",
        help="allow plain HTTP beyond loopback without a TLS proxy (passwords cross the network "
        "unencrypted)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        metavar="ADDRS",
        help="proxies whose X-Forwarded-For is believed (comma-separated; default: none)",
    )

    create = sub.add_parser("create-user", help="create a user (or set a password with --update)")
    _common(create)
    create.add_argument("email")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    create.add_argument("--update", action="store_true", help="set the password if the user exists")

    set_password = sub.add_parser(
        "set-password", help="set a user's password and sign out every device of theirs"
    )
    _common(set_password)
    set_password.add_argument("email")
    set_password.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )

    migrate = sub.add_parser("migrate", help="apply database migrations")
    _common(migrate)
    rotate = sub.add_parser("rotate-key", help="add a new vault key and re-encrypt every token")
    _common(rotate)

    presets = sub.add_parser("presets", help="list the provider presets and what each needs")
    presets.add_argument("--json", action="store_true", help="print the catalogue as JSON")

    sandbox = sub.add_parser("sandbox", help="serve the Demo Ads sandbox provider alone")
    sandbox.add_argument("--config", type=Path, help="TOML with a [sandbox] table")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8766)
    sandbox.add_argument(
        "--admin-api",
        action="store_true",
        help="enable the fault/admin API (needs --admin-token-file)",
    )
    sandbox.add_argument(
        "--admin-token-file",
        type=Path,
        help="where to write this start's admin API token (mode 0600)",
    )
    sandbox.add_argument("--state-file", type=Path, help="keep grants across restarts")
    return parser


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio then sets TCP_NODELAY on every accepted connection;
    # without it each keep-alive response waits ~40 ms for the peer's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if sys.platform != "win32":
        # A restart on the same port works at once: connections the old process closed (its
        # event streams, at shutdown) linger in TIME_WAIT for a minute, and bind() would refuse
        # the port meanwhile. On POSIX this never lets two processes listen on one port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from backend.app import create_app
    from backend.limits import head_timeout_protocol
    from backend.transport import PlainHttpRefused, check_plain_http

    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    overrides: dict[str, Any] = {"host": args.host, "port": port}
    if args.public_url:
        overrides["public_url"] = args.public_url
    if args.sandbox:
        overrides["sandbox"] = True
    if args.insecure_http:
        overrides["insecure_http"] = True
    if args.forwarded_allow_ips:
        overrides["forwarded_allow_ips"] = args.forwarded_allow_ips
    settings = _settings(args, **overrides)
    setup_logging(settings.log_level)
    try:
        check_plain_http(args.host, settings.public_url, settings.insecure_http)
    except PlainHttpRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sock.listen(settings.backlog)  # again, with the configured backlog
    try:
        app = create_app(settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        http=head_timeout_protocol(settings.request_read_timeout_s),
        limit_concurrency=settings.limit_concurrency,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: then any
        # local process could pick its address (and dodge the login throttle).
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
    )
    host = f"[{args.host}]" if ":" in args.host else args.host

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                settle_heap()
                print(f"READY http://{host}:{port}", flush=True)
                log.info(
                    "listening on http://%s:%d (database: %s)",
                    host,
                    port,
                    settings.resolved_database_url().split("://", 1)[0],
                )

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            app.state.before_shutdown()  # ends open event streams (backend.app)
            await super().shutdown(sockets=sockets)

    server = _Server(config)
    asyncio.run(server.serve(sockets=[sock]))
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise SystemExit("The two passwords differ.")
    if len(password) < 8:
        raise SystemExit("A password needs at least 8 characters.")
    return password


def cmd_create_user(args: argparse.Namespace) -> int:
    from backend.auth.service import UserExists, create_user
    from backend.db.engine import make_engine, session_factory
    from backend.db.migrate import upgrade

    settings = _settings(args)
    setup_logging("WARNING")
    password = _read_password(args)
    prepare_storage(settings.data_dir, settings.resolved_database_url())
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    with session_factory(engine).begin() as session:
        try:
            create_user(session, args.email, password, update=args.update)
        except UserExists:
            print(
                f"A user {args.email} exists already; use --update to set a new password.",  # noqa: S608
                file=sys.stderr,
            )
            return 1
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"User {args.email} is ready.")
    return 0


def cmd_set_password(args: argparse.Namespace) -> int:
    from backend.auth.service import NoSuchUser, set_password
    from backend.db.engine import make_engine, session_factory
    from backend.db.migrate import upgrade

    settings = _settings(args)
    setup_logging("WARNING")
    password = _read_password(args)
    prepare_storage(settings.data_dir, settings.resolved_database_url())
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    try:
        with session_factory(engine).begin() as session:
            ended = set_password(session, args.email, password)
    except NoSuchUser:
        print(f"There is no user {args.email}; make one with create-user.", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"The password of {args.email} is set; {len(ended)} device(s) were signed out.")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from backend.db.engine import make_engine
    from backend.db.migrate import upgrade

    settings = _settings(args)
    setup_logging(settings.log_level)
    prepare_storage(settings.data_dir, settings.resolved_database_url())
    upgrade(make_engine(settings.resolved_database_url()))
    print("The database is up to date.")
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    from backend.db.engine import make_engine, session_factory
    from backend.db.migrate import upgrade
    from backend.vault import rotate_key

    settings = _settings(args)
    setup_logging(settings.log_level)
    prepare_storage(settings.data_dir, settings.resolved_database_url())
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    result = rotate_key(settings, session_factory(engine))
    print(result)
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    import tomllib

    from backend.sandbox.config import SandboxConfig
    from backend.sandbox.serve import run_sandbox

    setup_logging("INFO")
    table: dict[str, Any] = {}
    if args.config:
        with args.config.open("rb") as fh:
            table = dict(tomllib.load(fh).get("sandbox", {}))
    config = SandboxConfig.from_toml_table(table)
    if args.admin_api:
        config.admin_api = True
    if config.admin_api and args.admin_token_file is None:
        print(
            "error: the admin API needs --admin-token-file PATH: each start writes a fresh"
            " token there (mode 0600) and admin requests must send it.",
            file=sys.stderr,
        )
        return 2
    if args.state_file:
        config.state_file = args.state_file
    run_sandbox(args.host, args.port, config, token_file=args.admin_token_file)
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from backend.providers.catalogue import as_json, as_text

    print(as_json() if args.json else as_text())
    return 0


COMMANDS = {
    "serve": cmd_serve,
    "create-user": cmd_create_user,
    "set-password": cmd_set_password,
    "migrate": cmd_migrate,
    "rotate-key": cmd_rotate_key,
    "sandbox": cmd_sandbox,
    "presets": cmd_presets,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Whichever command runs first makes the data folder, database and key files private.
    use_private_umask()
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
