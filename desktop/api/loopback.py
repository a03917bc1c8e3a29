"""An httpx transport for the local service on 127.0.0.1, on the stdlib's http.client.

httpx's default transport imports httpcore (and with it trio and anyio when installed) and
builds a TLS context per client: about a third of a short command's run time, for plain HTTP
over loopback that needs neither (bench/cli_latency.py). One connection per request; a
loopback connect costs a fraction of a millisecond. Proxies never apply to loopback here.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import httpx

CHUNK = 65536


class _Body(httpx.SyncByteStream):
    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse):
        self._conn = conn
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        try:
            while chunk := self._response.read1(CHUNK):
                yield chunk
        except TimeoutError:
            raise httpx.ReadTimeout("the local service did not answer in time") from None
        except (OSError, http.client.HTTPException) as exc:
            raise httpx.ReadError(f"reading the answer failed ({type(exc).__name__})") from None
        except (AttributeError, ValueError):
            # Hung up by another thread (the live updates' stop, a cancelled report):
            # http.client then trips over its own closed file in the middle of a read.
            if self._response.fp is None or self._response.isclosed():
                raise httpx.ReadError("the answer was hung up while it was read") from None
            raise

    def close(self) -> None:
        self._response.close()
        self._conn.close()


class LoopbackTransport(httpx.BaseTransport):
    """Plain HTTP/1.1 to 127.0.0.1 only; `timeout` bounds the connect and each read."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http" or url.host != "127.0.0.1":
            raise httpx.UnsupportedProtocol("the loopback transport only speaks to 127.0.0.1")
        conn = http.client.HTTPConnection("127.0.0.1", url.port or 80, timeout=self._timeout)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw}
        headers.pop("Host", None)
        headers.pop("host", None)
        try:
            conn.putrequest(request.method, url.raw_path.decode("ascii"), skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders(request.read() or None)
            on_socket = request.extensions.get("on_socket")
            if on_socket is not None:
                on_socket(conn.sock)  # desktop/api/abort.py: Cancel may hang up the wait below
            response = conn.getresponse()
            read_timeout = request.extensions.get("timeout", {}).get("read")
            if read_timeout is not None and conn.sock is not None:
                # A longer wait per read for a stream that asks for one (the event stream).
                conn.sock.settimeout(max(self._timeout, float(read_timeout)))
        except ConnectionRefusedError:
            conn.close()
            raise httpx.ConnectError("connection refused") from None
        except TimeoutError:
            conn.close()
            raise httpx.ReadTimeout("the local service did not answer in time") from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise httpx.ReadError(f"the request failed ({type(exc).__name__})") from None
        return httpx.Response(
            response.status,
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.getheaders()],
            stream=_Body(conn, response),
            request=request,
            # So a reader blocked on a long stream can be woken from another thread.
            extensions={"socket": conn.sock},
        )
