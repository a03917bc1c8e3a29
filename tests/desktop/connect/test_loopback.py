"""The one-shot loopback receiver, driven over real sockets."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from desktop.connect import loopback
from desktop.connect.loopback import (
    CallbackResult,
    LoopbackReceiver,
    ReceiverCancelled,
    ReceiverTimeout,
)

STATE = "s-8f1c2b9e7a6d"


@pytest.fixture
def receiver() -> Iterator[LoopbackReceiver]:
    r = LoopbackReceiver(timeout=10)
    r.expect(STATE)
    yield r
    r.close()


def raw(receiver: LoopbackReceiver, request: bytes) -> bytes:
    """Send raw bytes, return the answer's head and body (by its Content-Length)."""
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as s:
        s.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += s.recv(65536)
        head, body = answer.split(b"\r\n\r\n", 1)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def get(receiver: LoopbackReceiver, query: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{receiver.redirect_uri}?{query}", headers=headers, timeout=5)


def result_in_background(receiver: LoopbackReceiver) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []

    def run() -> None:
        try:
            out.append(receiver.wait())
        except Exception as exc:
            out.append(exc)

    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_listens_only_on_loopback_with_os_chosen_port(receiver: LoopbackReceiver) -> None:
    host, port = receiver._sock.getsockname()
    assert host == "127.0.0.1"
    assert port == receiver.port
    assert port > 0
    assert receiver.redirect_uri == f"http://127.0.0.1:{port}/callback"
    assert receiver._sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0
    # This host has IPv6 loopback: [::1] on the same port, IPv6 only, no SO_REUSEADDR.
    assert receiver._sock6 is not None
    assert receiver._sock6.getsockname()[:2] == ("::1", port)
    assert receiver._sock6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    assert receiver._sock6.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0


def test_without_ipv6_loopback_it_listens_on_ipv4_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 8252 §7.3: IPv4 loopback is what the redirect URI names; a host without ::1
    (EADDRNOTAVAIL here, as for an address the host does not have) still connects."""
    monkeypatch.setattr(loopback, "IPV6_LOOPBACK", "::2")
    with LoopbackReceiver(timeout=5) as r:
        r.expect(STATE)
        assert r._sock6 is None
        assert get(r, f"code=c&state={STATE}").status_code == 200
        assert r.wait().code is not None


def test_a_busy_ipv6_port_means_a_fresh_port_for_both(monkeypatch: pytest.MonkeyPatch) -> None:
    """design rule "a busy port: fail fast with words, never hang": another program holding [::1] on
    the port the OS gave for 127.0.0.1 makes the receiver try other ports, a few times, and
    every port it tried is free again afterwards."""
    real_listen = loopback._listen
    squatters: list[socket.socket] = []
    tried: list[int] = []

    def squat_first(family: socket.AddressFamily, address: tuple[str, int]) -> socket.socket:
        if family == socket.AF_INET6 and len(squatters) < squat_count:
            squatter = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            squatter.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            squatter.bind(address)
            squatters.append(squatter)
            tried.append(address[1])
        return real_listen(family, address)

    monkeypatch.setattr(loopback, "_listen", squat_first)
    try:
        squat_count = 2
        with LoopbackReceiver(timeout=5) as r:
            assert r.port not in tried
            assert r._sock6 is not None
            assert r._sock6.getsockname()[1] == r.port
            for port in tried:  # the ports given up on were let go at once
                socket.create_server(("127.0.0.1", port)).close()
        squat_count = len(squatters) + loopback.BIND_ATTEMPTS
        with pytest.raises(OSError, match="Could not open a local port"):
            LoopbackReceiver(timeout=5)
        for port in tried:
            socket.create_server(("127.0.0.1", port)).close()
    finally:
        for squatter in squatters:
            squatter.close()


def test_matching_callback_completes_with_success_page(receiver: LoopbackReceiver) -> None:
    r = get(receiver, f"code=the-code-123&state={STATE}&iss=https%3A%2F%2Fidp.example")
    assert r.status_code == 200
    assert "Consent received" in r.text
    assert "the-code-123" not in r.text
    result = receiver.wait()
    assert isinstance(result, CallbackResult)
    assert result.code is not None
    assert result.code.reveal() == "the-code-123"
    assert result.state == STATE
    assert result.iss == "https://idp.example"
    assert "the-code-123" not in repr(result)


def test_pages_send_no_store_no_referrer_and_a_strict_csp(receiver: LoopbackReceiver) -> None:
    r = get(receiver, f"code=c&state={STATE}")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    # Self-contained: nothing is loaded from elsewhere.
    assert "http://" not in r.text
    assert "https://" not in r.text
    assert "src=" not in r.text


def test_wrong_or_missing_state_gets_error_page_and_keeps_waiting(
    receiver: LoopbackReceiver,
) -> None:
    assert get(receiver, "code=evil&state=wrong").status_code == 400
    assert get(receiver, "code=evil").status_code == 400
    r = get(receiver, f"code=good&state={STATE}")
    assert r.status_code == 200
    result = receiver.wait()
    assert result.code is not None
    assert result.code.reveal() == "good"


def test_stray_paths_and_other_methods_do_not_consume_the_flow(
    receiver: LoopbackReceiver,
) -> None:
    assert httpx.get(f"http://127.0.0.1:{receiver.port}/favicon.ico").status_code == 404
    assert httpx.get(f"http://127.0.0.1:{receiver.port}/").status_code == 404
    query = f"code=c1&state={STATE}"
    assert httpx.head(f"{receiver.redirect_uri}?{query}").status_code == 405
    options = httpx.request("OPTIONS", f"{receiver.redirect_uri}?{query}")
    assert options.status_code == 405
    assert httpx.post(f"{receiver.redirect_uri}?{query}").status_code == 405
    r = get(receiver, query, **{"Sec-Purpose": "prefetch;prerender"})
    assert r.status_code == 503
    assert get(receiver, query, Purpose="prefetch").status_code == 503
    t, out = result_in_background(receiver)
    t.join(0.3)
    assert t.is_alive(), "nothing above may complete the flow"
    assert get(receiver, query).status_code == 200
    t.join(5)
    assert isinstance(out[0], CallbackResult)


def test_second_identical_callback_is_already_completed_and_not_forwarded(
    receiver: LoopbackReceiver,
) -> None:
    first = get(receiver, f"code=once&state={STATE}")
    result = receiver.wait()
    second = get(receiver, f"code=once&state={STATE}")
    assert first.status_code == 200
    assert "Consent received" in first.text
    assert second.status_code == 200
    assert "Already done" in second.text
    assert receiver.wait() is result  # still the one result, nothing new forwarded


def test_foreign_host_header_is_rejected(receiver: LoopbackReceiver) -> None:
    query = f"code=c&state={STATE}"
    r = get(receiver, query, Host=f"evil.example:{receiver.port}")
    assert r.status_code == 400
    assert get(receiver, query, Host=f"localhost:{receiver.port}").status_code == 400
    answer = raw(receiver, f"GET /callback?{query} HTTP/1.1\r\n\r\n".encode())
    assert status_of(answer) == 400
    t, _ = result_in_background(receiver)
    t.join(0.2)
    assert t.is_alive()
    receiver.cancel()
    t.join(5)


def test_oversized_and_non_utf8_requests_get_4xx_without_crashing(
    receiver: LoopbackReceiver,
) -> None:
    host = f"Host: 127.0.0.1:{receiver.port}\r\n"
    long_target = "/callback?x=" + "a" * 20000
    assert status_of(raw(receiver, f"GET {long_target} HTTP/1.1\r\n{host}\r\n".encode())) == 414
    huge_headers = "".join(f"X-{i}: {'b' * 100}\r\n" for i in range(300))
    answer = raw(receiver, f"GET /callback HTTP/1.1\r\n{host}{huge_headers}\r\n".encode())
    assert status_of(answer) == 431
    bad = f"GET /callback?state={STATE}&code=%ff%fe HTTP/1.1\r\n{host}\r\n".encode()
    assert status_of(raw(receiver, bad)) == 400
    raw_bytes = b"GET /callback?state=\xff HTTP/1.1\r\n" + host.encode() + b"\r\n"
    assert status_of(raw(receiver, raw_bytes)) == 400
    assert status_of(raw(receiver, b"garbage\r\n\r\n")) == 400
    repeated = f"GET /callback?state={STATE}&code=a&code=b HTTP/1.1\r\n{host}\r\n".encode()
    assert status_of(raw(receiver, repeated)) == 400
    # Still alive and still waiting for the real redirect.
    assert get(receiver, f"code=ok&state={STATE}").status_code == 200
    assert receiver.wait().code is not None


def test_silent_client_does_not_block_the_real_redirect(receiver: LoopbackReceiver) -> None:
    with socket.create_connection(("127.0.0.1", receiver.port)):
        assert get(receiver, f"code=ok&state={STATE}").status_code == 200


def test_provider_error_shows_plain_words_and_completes(receiver: LoopbackReceiver) -> None:
    r = get(receiver, f"error=access_denied&error_description=<b>User+said+no</b>&state={STATE}")
    assert r.status_code == 200
    assert "You did not allow access" in r.text
    assert "&lt;b&gt;User said no&lt;/b&gt;" in r.text
    assert "<b>" not in r.text
    result = receiver.wait()
    assert result.error == "access_denied"
    assert result.code is None


def test_relayed_redirect_without_code(receiver: LoopbackReceiver) -> None:
    r = get(receiver, f"state={STATE}&flow_id=f1&result=success&relay_ticket=t1cket")
    assert r.status_code == 200
    assert "t1cket" not in r.text
    result = receiver.wait()
    assert result.relayed
    assert result.flow_id == "f1"
    assert result.code is None
    assert result.relay_ticket is not None
    assert result.relay_ticket.reveal() == "t1cket"
    assert "t1cket" not in repr(result)


def test_relayed_success_without_its_ticket_does_not_complete(receiver: LoopbackReceiver) -> None:
    """Design, "Backend-relayed redirect": a relayed success carries the flow id and the one-time
    ticket; one without them (or a wrong state, or a foreign Host) is refused and the receiver
    keeps waiting for the real one."""
    for query in (
        f"state={STATE}&flow_id=f1&result=success",
        f"state={STATE}&result=success&relay_ticket=t1cket",
        "state=other&flow_id=f1&result=success&relay_ticket=t1cket",
    ):
        assert get(receiver, query).status_code == 400
    foreign = httpx.get(
        f"{receiver.redirect_uri}?state={STATE}&flow_id=f1&result=success&relay_ticket=t1cket",
        headers={"Host": "evil.example"},
        timeout=5,
    )
    assert foreign.status_code == 400
    r = get(receiver, f"state={STATE}&flow_id=f1&result=success&relay_ticket=t1cket")
    assert r.status_code == 200
    assert receiver.wait().relay_ticket is not None


def test_wait_times_out() -> None:
    with LoopbackReceiver(timeout=0.3) as r:
        r.expect(STATE)
        with pytest.raises(ReceiverTimeout, match="No answer from the browser"):
            r.wait()


def test_cancel_wakes_wait_from_another_thread(receiver: LoopbackReceiver) -> None:
    t, out = result_in_background(receiver)
    receiver.cancel()
    t.join(5)
    assert isinstance(out[0], ReceiverCancelled)
    # A late redirect after cancel does not complete anything.
    assert get(receiver, f"code=late&state={STATE}").status_code == 400


def test_socket_is_closed_afterwards_and_the_port_is_free() -> None:
    r = LoopbackReceiver(timeout=5)
    r.expect(STATE)
    assert get(r, f"code=c&state={STATE}").status_code == 200
    port = r.port
    r.close()
    for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, port), timeout=2).close()
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((address, port))  # no SO_REUSEADDR: fails if anything still holds the port
        finally:
            s.close()
    assert not r._thread.is_alive()


def test_browser_gets_its_page_even_when_the_app_closes_at_once() -> None:
    """The app closes the receiver as soon as wait() returns; the page must still arrive."""
    for _ in range(20):
        r = LoopbackReceiver(timeout=5)
        r.expect(STATE)

        def app(receiver: LoopbackReceiver) -> None:
            receiver.wait()
            receiver.close()

        t = threading.Thread(target=app, args=(r,))
        t.start()
        answer = get(r, f"code=c&state={STATE}")
        t.join(5)
        assert answer.status_code == 200
        assert "Consent received" in answer.text


def test_close_returns_quickly_with_a_silent_connection_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A close that waited for the silent client would now wait ten minutes (its read timeout,
    # or the linger): the generous bound below tells "at once" from that on any machine.
    monkeypatch.setattr(loopback, "READ_TIMEOUT", 600.0)
    monkeypatch.setattr(loopback, "LINGER", 600.0)
    r = LoopbackReceiver(timeout=600)
    with socket.create_connection(("127.0.0.1", r.port), timeout=30) as silent:
        started = time.monotonic()
        r.close()
        assert time.monotonic() - started < 30
        # Cut off, not left hanging: an orderly close, or a reset if it was never accepted.
        with contextlib.suppress(ConnectionResetError):
            assert silent.recv(1) == b""
