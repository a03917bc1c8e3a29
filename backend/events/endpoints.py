"""`GET /v1/events`: the caller's connection changes as Server-Sent Events.

Wire format (WHATWG HTML "Server-sent events"): each event is `id: <n>` and one `data:` line
of JSON (`record.event_json`); comment lines (`: …`) open the stream and keep it alive through
proxies. A reconnecting client sends `Last-Event-ID` and gets what it missed while events are
kept (record.RETENTION); it should re-read GET /v1/connections anyway, since a stream sees
only what commits after it opened.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final

import anyio
import anyio.to_thread
from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from backend.activity import Activity
from backend.auth.deps import CurrentUser, Principal, still_signed_in
from backend.deps import StateDep
from backend.events.hub import Subscription
from backend.events.record import event_json, events_after
from backend.state import AppState

# How long a client waits before reconnecting after the stream drops (the `retry:` field).
RETRY_MS: Final = 2000

Write = Callable[[str], Awaitable[None]]

router = APIRouter(prefix="/v1", tags=["events"])


class EventStreamResponse(Response):
    """An endless `text/event-stream` body written by `run(write)`; ends with the client."""

    media_type = "text/event-stream"

    def __init__(
        self,
        run: Callable[[Write], Awaitable[None]] | None = None,
        *,
        activity: Activity | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        # No-store: a stream is never cached; no buffering by nginx-style proxies either.
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        super().__init__(status_code=200, headers=headers, media_type=self.media_type)
        # Endless: no Content-Length (the base class sets one for its empty body).
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self._run = run
        self._activity = activity or Activity()
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            # The local service does not stop while a window listens (backend.activity).
            with self._activity.busy():
                await self._stream(receive, send)
        finally:
            if self._on_close is not None:
                self._on_close()

    async def _stream(self, receive: Receive, send: Send) -> None:
        async def write(text: str) -> None:
            body = text.encode()
            await send({"type": "http.response.body", "body": body, "more_body": True})

        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            async def pump() -> None:
                try:
                    await send(
                        {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                    )
                    if self._run is not None:
                        await self._run(write)
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                except OSError:
                    pass  # the client went away mid-write
                finally:
                    group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            group.start_soon(pump)


def frame(event: dict[str, Any]) -> str:
    return f"id: {event['id']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


class _Stream:
    """What one open stream writes: an opening comment, missed events, then live ones."""

    def __init__(
        self,
        request: Request,
        state: AppState,
        user: Principal,
        sub: Subscription,
        replay: list[dict[str, Any]],
    ) -> None:
        self.request = request
        self.state = state
        self.user = user
        self.sub = sub
        self.replay = replay

    async def __call__(self, write: Write) -> None:
        await write(f"retry: {RETRY_MS}\n: connected\n\n")
        sent = set()
        for event in self.replay:
            await write(frame(event))
            sent.add(event["id"])
        keepalive = self.state.settings.events_keepalive_s
        while True:
            wait = keepalive
            if self.user.expires_at:
                left = self.user.expires_at - time.time()
                if left <= 0:
                    # The client renews its access token and comes back (retry: above).
                    await write(": access token expired; reconnect with a fresh one\n\n")
                    return
                wait = min(wait, left)
            batch = await self.sub.next(wait)
            if batch is None:
                return  # shutting down, or too far behind: the client reconnects
            if not batch:
                if not await still_signed_in(self.request, self.state, self.user):
                    await write(": this device was signed out\n\n")
                    return
                await write(": keep-alive\n\n")
                continue
            for event in batch:
                if event["id"] not in sent:
                    await write(frame(event))


EVENTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An endless stream of this user's connection changes (Server-Sent "
        "Events). Each event: `id: <n>` and `data: {id, kind, connection_id, status, reason, "
        "at, connection}`; `kind` is connected, needs_reconnect, error, disconnected, "
        "revocation_settled or updated; `connection` is the object GET /v1/connections/{id} "
        "returns. While the provider prepares a report asynchronously (Meta report runs), "
        "`report_progress` events carry `{id, kind, connection_id, percent, status, at}` "
        "instead (status queued, running or done). Comment lines (`: keep-alive`) come "
        "every few seconds. The stream ends when the access token expires; reconnect with a "
        "fresh one and `Last-Event-ID`.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
}


@router.get(
    "/events",
    status_code=200,
    response_class=EventStreamResponse,
    responses=EVENTS_RESPONSES,
)
async def stream_events(
    request: Request,
    user: CurrentUser,
    state: StateDep,
    last_event_id: Annotated[
        str | None,
        Header(
            max_length=18,
            pattern=r"^[0-9]+$",
            description="The last event id this client received (sent back on reconnect)",
        ),
    ] = None,
) -> EventStreamResponse:
    """Live updates of the caller's connections (another user's never appear)."""
    hub = state.events
    sub = await hub.subscribe(user.user_id)
    try:
        replay: list[dict[str, Any]] = []
        if last_event_id:
            after = int(last_event_id)
            rows = await anyio.to_thread.run_sync(
                lambda: events_after(state.engine, after, user_id=user.user_id)
            )
            replay = [event_json(r) for r in rows]
    except BaseException:
        hub.unsubscribe(sub)
        raise
    return EventStreamResponse(
        _Stream(request, state, user, sub, replay),
        activity=state.activity,
        on_close=lambda: hub.unsubscribe(sub),
    )
