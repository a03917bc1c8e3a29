"""Which backend a command talks to, signed in: a configured URL, or the local service."""

from __future__ import annotations

from types import TracebackType

from desktop.account.local_backend import LocalBackend
from desktop.account.secure_store import open_store
from desktop.account.session import Session
from desktop.api.client import ApiClient
from desktop.api.errors import ApiError
from desktop.config import COMMAND_LINE
from desktop.models.connection import Connection


class CliError(Exception):
    """A failure the command line reports in plain words with its exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class BackendContext:
    """`with BackendContext(url) as ctx: ctx.client.connections()` — stops what it started."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.client: ApiClient | None = None
        self.session: Session | None = None
        self.local: LocalBackend | None = None

    def __enter__(self) -> BackendContext:
        try:
            if self.url is None:
                self.local = LocalBackend(client=COMMAND_LINE)
                base_url = self.local.start()
                self.session = self.local.session
                self.client = ApiClient(
                    base_url, self.session, rebase=self.local.rebase, loopback=True
                )
            else:
                base_url = self.url
                self.session = Session(base_url, open_store())
                if not self.session.restore():
                    raise CliError(
                        f"You are not signed in to {base_url}. "
                        "Sign in with: connected-accounts --backend URL login EMAIL",
                        3,
                    )
                self.client = ApiClient(base_url, self.session)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def api(self) -> ApiClient:
        if self.client is None:
            raise CliError("Not connected to a backend.", 1)
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.session is not None:
            self.session.close()


def resolve_connection(client: ApiClient, text: str) -> Connection:
    """A connection by its id or a unique id prefix."""
    text = text.strip()
    if not text:
        raise CliError("Give a connection id (see: connected-accounts list).", 2)
    connections = client.connections()
    exact = [c for c in connections if c.id == text]
    if exact:
        return exact[0]
    matches = [c for c in connections if c.id.startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CliError(f"No connection has an id starting with {text!r} (see: list).", 2)
    raise CliError(f"{len(matches)} connections start with {text!r}; give more of the id.", 2)


def exit_code_for(exc: ApiError) -> int:
    """The exit codes the README lists: 2 usage (the backend found the request itself wrong,
    e.g. a provider it does not offer, or no such connection or device), 3 sign-in needed,
    4 needs reconnect, 5 unavailable, 6 cancelled; 1 for any other refusal."""
    if exc.code in ("invalid_request", "not_found"):
        return 2
    if exc.code == "unauthorized":
        return 3
    if exc.code == "needs_reconnect":
        return 4
    if exc.code in ("provider_unavailable", "rate_limited", "network"):
        return 5
    if exc.code == "cancelled":
        return 6
    return 1
