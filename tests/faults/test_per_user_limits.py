"""Per-user limits (issue 14 point 13) on real server processes sharing one database, on SQLite
and on PostgreSQL: one user cannot make the backend do unbounded work, and another user's
requests go through meanwhile.

Rules: reports in flight, 4 per user; provider calls for `?check=true` and imports, rate
limited; past a limit, 429 `rate_limited` problem+json with Retry-After (design: "HTTP API").
The counters live in the database, so two backend processes share them.
"""

from __future__ import annotations

import threading

import httpx

from tests.faults.procs import Procs, connect, login, wait_until

PARAMS = {"since": "2026-11-01", "until": "2026-11-02"}


def assert_rate_limited(resp: httpx.Response, words: str) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "rate_limited"
    assert words in resp.json()["detail"]
    assert int(resp.headers["Retry-After"]) >= 1


def test_reports_in_flight_are_capped_per_user_and_another_user_stays_fast(
    procs: Procs,
) -> None:
    procs.create_user("a@example.test")
    procs.create_user("b@example.test")
    _, url_1 = procs.start()
    _, url_2 = procs.start()
    user_a, user_b = login(url_1, "a@example.test"), login(url_2, "b@example.test")
    conn_a = connect(url_1, user_a, "user-1001")
    conn_b = connect(url_2, user_b, "user-1002")
    path_a = f"/v1/connections/{conn_a['id']}/reports"
    params_a = {**PARAMS, "account": conn_a["accounts"][0]["id"]}
    base = procs.stats()
    procs.faults(hold=["api"], hold_users=["user-1001"])  # A's provider stalls, B's does not

    answers: list[int] = []
    lock = threading.Lock()

    def report(url: str) -> None:
        r = httpx.get(f"{url}{path_a}", params=params_a, headers=user_a, timeout=120)
        with lock:
            answers.append(r.status_code)

    stuck = [threading.Thread(target=report, args=(u,)) for u in (url_1, url_2, url_1, url_2)]
    try:
        for t in stuck:
            t.start()
        wait_until("A's 4 reports are stalled at the provider",
                   lambda: procs.stats()["held_requests"] == base["held_requests"] + 4)  # fmt: skip
        # A's fifth report, on either process, is refused before it reaches the provider.
        for url in (url_1, url_2):
            fifth = httpx.get(f"{url}{path_a}", params=params_a, headers=user_a, timeout=60)
            assert_rate_limited(fifth, "4 reports loading")
        # B's report goes through while A's four are still stalled.
        params_b = {**PARAMS, "account": conn_b["accounts"][0]["id"]}
        path_b = f"/v1/connections/{conn_b['id']}/reports"
        b = httpx.get(f"{url_1}{path_b}", headers=user_b, params=params_b, timeout=60)
        assert b.status_code == 200, b.text
        assert answers == []
        assert procs.stats()["held_requests"] == base["held_requests"] + 4
    finally:
        procs.faults(hold=[], hold_users=[])
    for t in stuck:
        t.join(120)
    assert answers == [200] * 4
    # The slots were given back: A has reports again.
    again = httpx.get(f"{url_2}{path_a}", params=params_a, headers=user_a, timeout=60)
    assert again.status_code == 200, again.text


def test_checks_and_imports_are_rate_limited_per_user(procs: Procs) -> None:
    procs.create_user("a@example.test")
    procs.create_user("b@example.test")
    limits = {"CONNECTED_ACCOUNTS_CHECKS_PER_MINUTE_PER_USER": "3",
              "CONNECTED_ACCOUNTS_IMPORTS_PER_HOUR_PER_USER": "2"}  # fmt: skip
    _, url_1 = procs.start(**limits)
    _, url_2 = procs.start(**limits)
    user_a, user_b = login(url_1, "a@example.test"), login(url_2, "b@example.test")
    conn_a = connect(url_1, user_a, "user-1001")
    conn_b = connect(url_2, user_b, "user-1002")

    # ?check=true: three provider calls a minute for A, counted across both processes.
    for url in (url_1, url_2, url_1):
        ok = httpx.get(f"{url}/v1/connections/{conn_a['id']}", params={"check": "true"},
                       headers=user_a, timeout=60)  # fmt: skip
        assert ok.status_code == 200, ok.text
    calls = procs.stats()["api_calls"]
    refused = httpx.get(f"{url_2}/v1/connections/{conn_a['id']}", params={"check": "true"},
                        headers=user_a, timeout=60)  # fmt: skip
    assert_rate_limited(refused, "3 times a minute")
    assert int(refused.headers["Retry-After"]) <= 60
    assert procs.stats()["api_calls"] == calls  # the provider never saw it
    # Without ?check the status is a database read, not limited; B's checks are B's own.
    plain = httpx.get(f"{url_2}/v1/connections/{conn_a['id']}", headers=user_a, timeout=60)
    assert plain.status_code == 200
    other = httpx.get(f"{url_1}/v1/connections/{conn_b['id']}", params={"check": "true"},
                      headers=user_b, timeout=60)  # fmt: skip
    assert other.status_code == 200, other.text

    # Imports: each is a refresh at the provider; two an hour for A.
    body = {"provider": "demo", "refresh_token": "demo_rt_not-a-real-one"}
    for url in (url_1, url_2):
        tried = httpx.post(f"{url}/v1/connections/import", json=body, headers=user_a, timeout=60)
        assert tried.status_code == 422, tried.text  # the provider refused the token
    tokens = procs.stats()["token_requests"]
    refused = httpx.post(f"{url_1}/v1/connections/import", json=body, headers=user_a, timeout=60)
    assert_rate_limited(refused, "an hour")
    assert procs.stats()["token_requests"] == tokens
    other = httpx.post(f"{url_2}/v1/connections/import", json=body, headers=user_b, timeout=60)
    assert other.status_code == 422, other.text  # B's allowance is untouched
