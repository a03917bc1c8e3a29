"""The desktop's one-shot loopback receiver under attack, over real sockets.

Rules: design rule "Lessons from others' incidents — Loopback receiver" (stray requests, HEAD,
OPTIONS preflights and prefetches never consume the flow; a foreign Host is refused (DNS
rebinding); a busy port, a closed browser, a cancel, a timeout fail fast and close the
socket; a second, identical callback (IPv4 then IPv6) is answered "already completed" and
never forwarded twice); RFC 6749 §10.12 (state binds the answer to the flow) and §3.1 (no
parameter twice); RFC 8252 §8.3 / Appendix B (127.0.0.1, no SO_REUSEADDR).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.connect.loopback import (
    CallbackResult,
    LoopbackReceiver,
    ReceiverCancelled,
    ReceiverTimeout,
)

STATE = "s-Qm9vYmFyYmF6cXV4LXN0YXRlLTEyOA"
GENUINE = "genuine-code-7f3a"
ATTACK_CODE = "attacker-code-91bd"

token = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=24
)
query_text = st.text(max_size=40).map(lambda s: quote(s, safe=""))


def request(method: str, target: str, host: str | None, *extra: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@st.composite
def attacks(draw: st.DrawFn, port: int) -> bytes:
    """A request that must never complete the flow, whatever it looks like."""
    host = f"127.0.0.1:{port}"
    good = f"/callback?state={STATE}&code={ATTACK_CODE}"
    kind = draw(st.sampled_from(
        ["method", "path", "state", "missing_state", "dup_state", "host", "prefetch", "bytes",
         "oversized", "no_code"]
    ))  # fmt: skip
    if kind == "method":
        method = draw(st.sampled_from(["HEAD", "OPTIONS", "POST", "PUT", "DELETE"]) | token)
        return request(method, good, host, "Access-Control-Request-Private-Network: true")
    if kind == "path":
        path = draw(
            st.sampled_from(
                ["/favicon.ico", "/", "/callback/", "/Callback", "//callback", "/%63allback"]
            )
            | token.map(lambda t: "/" + quote(t))
        )
        return request("GET", f"{path}?state={STATE}&code={ATTACK_CODE}", host)
    if kind == "state":
        wrong = draw(query_text.filter(lambda s: s != STATE))
        return request("GET", f"/callback?state={wrong}&code={ATTACK_CODE}", host)
    if kind == "missing_state":
        return request("GET", f"/callback?code={ATTACK_CODE}", host)
    if kind == "dup_state":
        other = draw(query_text)
        pair = draw(st.permutations([f"state={STATE}", f"state={other}"]))
        return request("GET", f"/callback?{'&'.join(pair)}&code={ATTACK_CODE}", host)
    if kind == "host":
        foreign = draw(
            st.sampled_from(
                ["evil.example", f"evil.example:{port}", "localhost", f"localhost:{port}",
                 "127.0.0.1", f"127.0.0.1:{port + 1}", "[::1]", f"[::1]:{port + 1}",
                 f"[0:0:0:0:0:0:0:1]:{port}", f"localhost6:{port}", ""]
            )
            | token
        )  # fmt: skip
        return request("GET", good, None if foreign == "" else foreign)
    if kind == "prefetch":
        header = draw(st.sampled_from(["Sec-Purpose: prefetch", "Sec-Purpose: prefetch;prerender",
                                       "Purpose: prefetch"]))  # fmt: skip
        return request("GET", good, host, header)
    if kind == "bytes":
        junk = draw(st.binary(min_size=1, max_size=12).filter(lambda b: any(x > 127 for x in b)))
        return request("GET", good, host)[:-4] + b"\r\nX-Junk: " + junk + b"\r\n\r\n"
    if kind == "oversized":
        size = draw(st.integers(min_value=9 * 1024, max_value=40 * 1024))
        return request("GET", f"{good}&pad={'a' * size}", host)
    junk = draw(st.sampled_from(["", "&code=", "&iss=x"]))
    return request("GET", f"/callback?state={STATE}{junk}", host)


def answer_to(port: int, data: bytes, address: str = "127.0.0.1") -> bytes:
    """Send raw bytes; read the answer's head and body (by its Content-Length)."""
    with socket.create_connection((address, port), timeout=5) as s:
        # It may answer 414 and close while a huge request is still going out.
        with contextlib.suppress(OSError):
            s.sendall(data)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(65536)
            assert chunk, f"closed without an answer: {answer[:200]!r}"
            answer += chunk
        head, body = answer.split(b"\r\n\r\n", 1)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(body) < length:
            chunk = s.recv(65536)
            assert chunk
            body += chunk
    return head + b"\r\n\r\n" + body


def test_no_stray_or_forged_request_consumes_the_flow() -> None:
    """Hypothesis: methods, paths, states, Hosts, prefetches, bytes and sizes an attacker or a
    browser's side traffic might send all get a 4xx/5xx page that echoes no code, and the real
    redirect afterwards still completes the flow with its own code."""
    with LoopbackReceiver(timeout=10) as receiver:
        receiver.expect(STATE)

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def probe(data: st.DataObject) -> None:
            answer = answer_to(receiver.port, data.draw(attacks(receiver.port)))
            status = int(answer.split(b" ", 2)[1])
            assert 400 <= status < 600, answer[:200]
            assert ATTACK_CODE.encode() not in answer
            assert b"no-store" in answer.lower()

        probe()
        resp = httpx.get(f"{receiver.redirect_uri}?state={STATE}&code={GENUINE}", timeout=5)
        assert resp.status_code == 200
        result = receiver.wait()
        assert result.code is not None
        assert result.code.reveal() == GENUINE


def test_browser_closing_mid_request_leaves_the_receiver_waiting() -> None:
    """design: a closed browser never hangs or consumes the flow; the next redirect works."""
    with LoopbackReceiver(timeout=10) as receiver:
        receiver.expect(STATE)
        for partial in (b"GET /callback?state=" + STATE.encode(), b"GET / HTTP/1.1\r\nHo", b""):
            with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as s:
                s.sendall(partial)
        with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as s:
            s.sendall(b"GET /callback?state=" + STATE.encode() + b"&code=x HTTP/1.1\r\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        resp = httpx.get(f"{receiver.redirect_uri}?state={STATE}&code={GENUINE}", timeout=5)
        assert resp.status_code == 200
        result = receiver.wait()
        assert result.code is not None
        assert result.code.reveal() == GENUINE


BIND_PROBE = """
import socket, sys
address, port, v6only = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if ":" in address:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
try:
    s.bind((address, port))
except OSError as exc:
    print("refused", exc.errno)
else:
    print("bound")
"""


def second_process_binds(port: int, address: str = "127.0.0.1", v6only: bool = True) -> str:
    """Whether another process can bind `address:port` (asking for SO_REUSEADDR); on IPv6,
    `v6only=False` asks for the dual-stack socket that would also take IPv4."""
    out = subprocess.run(  # our own interpreter, our own script
        [sys.executable, "-c", BIND_PROBE, address, str(port), str(int(v6only))],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return out.stdout.strip()


def test_no_second_process_can_bind_the_port_while_it_listens() -> None:
    """RFC 8252 §8.3 / Appendix B: no SO_REUSEADDR, so another process (even one asking for
    SO_REUSEADDR) cannot take over the redirect port; after close the port is free."""
    receiver = LoopbackReceiver(timeout=10)
    port = receiver.port
    try:
        assert second_process_binds(port).startswith("refused 98")
    finally:
        receiver.close()
    assert second_process_binds(port) == "bound"


@pytest.mark.parametrize("ending", ["timeout", "cancel"])
def test_timeout_and_cancel_close_the_socket(ending: str) -> None:
    """design: a cancel or a timeout fails fast with words and the sockets (127.0.0.1 and
    [::1]) are closed after."""
    receiver = LoopbackReceiver(timeout=0.3 if ending == "timeout" else 30)
    receiver.expect(STATE)
    port = receiver.port
    if ending == "cancel":
        threading.Timer(0.1, receiver.cancel).start()
    with pytest.raises(ReceiverTimeout if ending == "timeout" else ReceiverCancelled) as info:
        receiver.wait()
    assert str(info.value)
    receiver.close()
    for address in ("127.0.0.1", "::1"):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, port), timeout=2).close()
        assert second_process_binds(port, address) == "bound"


def listening_on_both(receiver: LoopbackReceiver) -> LoopbackReceiver:
    # These rules need the IPv6 side; a host without it is covered by the IPv4-only fallback
    # test in tests/desktop/connect/test_loopback.py.
    if receiver._sock6 is None:
        receiver.close()
        raise AssertionError("this test needs a host with IPv6 loopback (::1)")
    return receiver


ROUTES = {
    # name: (address the browser connects to, Host it sends) for a receiver on `port`
    "IPv4": ("127.0.0.1", "127.0.0.1:{port}"),
    "IPv6": ("::1", "[::1]:{port}"),
    "IPv6, IPv4 Host": ("::1", "127.0.0.1:{port}"),
}


def callback_over(receiver: LoopbackReceiver, route: str) -> bytes:
    address, host = ROUTES[route]
    target = f"/callback?state={STATE}&code={GENUINE}"
    return answer_to(receiver.port, request("GET", target, host.format(port=receiver.port)),
                     address)  # fmt: skip


@pytest.mark.parametrize(
    ("first", "second"),
    [("IPv4", "IPv6"), ("IPv4", "IPv6, IPv4 Host"), ("IPv6", "IPv4"), ("IPv6, IPv4 Host", "IPv4")],
)
def test_second_identical_callback_over_the_other_ip_version_is_already_completed(
    first: str, second: str
) -> None:
    """design rule "Loopback receiver": a second, identical callback (IPv4 then IPv6, or the other
    way round) is answered "already completed" and never forwarded twice — a second redemption
    makes the provider revoke the grant (RFC 9700 §4.14.2)."""
    with listening_on_both(LoopbackReceiver(timeout=10)) as receiver:
        receiver.expect(STATE)
        waiter: list[object] = []
        t = threading.Thread(target=lambda: waiter.append(receiver.wait()))
        t.start()
        one = callback_over(receiver, first)
        t.join(5)
        assert one.startswith(b"HTTP/1.1 200 ")
        assert b"Consent received" in one
        [delivered] = waiter
        two = callback_over(receiver, second)
        assert two.startswith(b"HTTP/1.1 200 ")
        assert b"Already done" in two
        assert b"Consent received" not in two
        assert GENUINE.encode() not in one + two
        # Still the one result: the second answer was not handed on as a new one.
        assert receiver.wait() is delivered
        assert isinstance(delivered, CallbackResult)
        assert delivered.code is not None
        assert delivered.code.reveal() == GENUINE


def test_no_second_process_can_bind_the_ipv6_side_while_it_listens() -> None:
    """RFC 8252 §8.3 / Appendix B and design rule "no SO_REUSEADDR": the receiver holds [::1] on its
    port too, so no other program can answer a browser that goes there over IPv6 (neither on
    [::1] nor with a dual-stack [::]); after close both are free."""
    receiver = listening_on_both(LoopbackReceiver(timeout=10))
    port = receiver.port
    try:
        assert second_process_binds(port, "::1").startswith("refused 98")
        assert second_process_binds(port, "::", v6only=False).startswith("refused 98")
    finally:
        receiver.close()
    assert second_process_binds(port, "::1") == "bound"
    assert second_process_binds(port, "::", v6only=False) == "bound"


def test_foreign_host_over_ipv6_is_refused_and_the_flow_goes_on() -> None:
    """Design, "Reject a Host header other than 127.0.0.1:{port} (DNS rebinding)": over IPv6 only
    the literal [::1]:{port} is accepted besides it; a name, another port or another spelling
    gets a 400 that echoes no code and does not consume the flow."""
    with listening_on_both(LoopbackReceiver(timeout=10)) as receiver:
        receiver.expect(STATE)
        port = receiver.port
        target = f"/callback?state={STATE}&code={ATTACK_CODE}"
        for host in (f"evil.example:{port}", f"localhost:{port}", f"localhost6:{port}",
                     f"[::1]:{port + 1}", "[::1]", f"[0:0:0:0:0:0:0:1]:{port}",
                     f"[::ffff:127.0.0.1]:{port}", None):  # fmt: skip
            answer = answer_to(port, request("GET", target, host), "::1")
            assert answer.startswith(b"HTTP/1.1 400 "), (host, answer[:100])
            assert ATTACK_CODE.encode() not in answer
        assert b"Consent received" in callback_over(receiver, "IPv6")
        result = receiver.wait()
        assert result.code is not None
        assert result.code.reveal() == GENUINE
