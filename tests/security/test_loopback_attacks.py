"""The desktop's one-shot loopback receiver under attack, over real sockets.

Rules: DESIGN "Lessons from others' incidents — Loopback receiver" (stray requests, HEAD,
OPTIONS preflights and prefetches never consume the flow; a foreign Host is refused (DNS
rebinding); a busy port, a closed browser, a cancel, a timeout fail fast and close the
socket); RFC 6749 §10.12 (state binds the answer to the flow) and §3.1 (no parameter twice);
RFC 8252 §8.3 / Appendix B (127.0.0.1, no SO_REUSEADDR).
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

from desktop.loopback import LoopbackReceiver, ReceiverCancelled, ReceiverTimeout

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
                 "127.0.0.1", f"127.0.0.1:{port + 1}", f"[::1]:{port}", ""]
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


def answer_to(port: int, data: bytes) -> bytes:
    """Send raw bytes; read the answer's head and body (by its Content-Length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
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
    """DESIGN: a closed browser never hangs or consumes the flow; the next redirect works."""
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
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as exc:
    print("refused", exc.errno)
else:
    print("bound")
"""


def second_process_binds(port: int) -> str:
    out = subprocess.run(  # noqa: S603 (our own interpreter, our own script)
        [sys.executable, "-c", BIND_PROBE, str(port)],
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
    """DESIGN: a cancel or a timeout fails fast with words and the socket is closed after."""
    receiver = LoopbackReceiver(timeout=0.3 if ending == "timeout" else 30)
    receiver.expect(STATE)
    port = receiver.port
    if ending == "cancel":
        threading.Timer(0.1, receiver.cancel).start()
    with pytest.raises(ReceiverTimeout if ending == "timeout" else ReceiverCancelled) as info:
        receiver.wait()
    assert str(info.value)
    receiver.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert second_process_binds(port) == "bound"
