"""Reading the backend's event stream (`GET /v1/events`, Server-Sent Events), blocking.

Parsing follows WHATWG HTML "Server-sent events" §9.2.6: lines of `field: value`, an empty
line ends an event, lines starting with ':' are comments (the backend sends one when the
stream opens and then as keep-alives).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from desktop.api.client import ApiClient
from desktop.api.errors import ApiError

# The backend sends a keep-alive comment every 15 s: a silence three times as long means the
# network dropped without a word (no FIN), and the stream is reopened.
READ_TIMEOUT_S = 45.0


@dataclass
class Message:
    """One dispatched event: its data (JSON text) and the id the stream gave it."""

    data: str
    event: str = "message"
    id: str | None = None


@dataclass
class Comment:
    text: str


@dataclass
class _Pending:
    data: list[str] = field(default_factory=list)
    event: str = ""


def parse(lines: Iterable[str]) -> Iterator[Message | Comment]:
    """Messages and comments from the stream's lines (without their line endings)."""
    pending = _Pending()
    last_id: str | None = None
    for line in lines:
        if line == "":
            if pending.data:
                yield Message("\n".join(pending.data), pending.event or "message", last_id)
            pending = _Pending()
            continue
        if line.startswith(":"):
            yield Comment(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            pending.data.append(value)
        elif name == "event":
            pending.event = value
        elif name == "id" and "\0" not in value:
            last_id = value


class StreamOpened:
    """Yielded once the backend has subscribed this stream: later changes will all arrive."""


def connection_events(
    client: ApiClient,
    *,
    last_event_id: int | None = None,
    stop: threading.Event | None = None,
    on_response: Callable[[Any], None] | None = None,
) -> Iterator[StreamOpened | dict[str, Any]]:
    """StreamOpened, then each event (`{id, kind, connection_id, status, reason, connection}`)
    until the stream ends, `stop` is set, or the network fails (ApiError "network").

    `on_response(response)` is given the open response so another thread may close it."""
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    with client.open_stream("/v1/events", headers=headers, read_timeout=READ_TIMEOUT_S) as resp:
        if on_response is not None:
            on_response(resp)
        opened = False
        try:
            for item in parse(resp.iter_lines()):
                if stop is not None and stop.is_set():
                    return
                if isinstance(item, Comment):
                    if not opened:
                        opened = True
                        yield StreamOpened()
                    continue
                try:
                    event = json.loads(item.data)
                except ValueError:
                    continue  # not ours to understand; the next one may be
                if isinstance(event, dict) and (
                    isinstance(event.get("connection"), dict)
                    or event.get("kind") == "report_progress"  # a report being prepared
                ):
                    yield event
        except httpx.HTTPError:
            if stop is not None and stop.is_set():
                return
            raise ApiError("network", f"The live updates from {client.base_url} stopped.") from None
