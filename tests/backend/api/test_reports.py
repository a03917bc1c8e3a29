"""GET /v1/connections/{id}/reports: the sandbox's numbers, normalised; bad input in words."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.backend.api.conftest import connect, direct_grant, sandbox_get, snapshot
from tests.backend.api.sandbox import api_fails, refreshes, revoke_at_sandbox, short_access_tokens
from tests.backend.conftest import Backend, SignedIn

UNTIL = date(2026, 11, 7)
SINCE = UNTIL - timedelta(days=6)


def report(user: SignedIn, conn_id: str, **params: str) -> Any:
    return user.client.get(f"/v1/connections/{conn_id}/reports", params=params)


def test_report_equals_the_sandbox_numbers_and_totals_are_sums(
    backend: Backend, user: SignedIn
) -> None:
    conn = connect(user)
    account = conn["accounts"][0]
    resp = report(user, conn["id"], since=str(SINCE), until=str(UNTIL), level="campaign")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["connection_id"] == conn["id"]
    assert body["provider"] == "demo"
    assert body["account"] == account  # the first covered account by default
    assert body["cached"] is False
    assert body["fetched_at"].endswith("Z")
    keys = [c["key"] for c in body["columns"]]
    assert keys[:3] == ["date", "campaign_id", "campaign_name"]
    rows = [dict(zip(keys, r, strict=True)) for r in body["rows"]]
    assert rows

    # The same numbers straight from the sandbox API, with a token of our own.
    token = direct_grant(backend.sandbox_url)["access_token"]
    raw = sandbox_get(
        backend.sandbox_url,
        f"/api/accounts/{account['id']}/insights",
        token,
        since=str(SINCE),
        until=str(UNTIL),
        level="campaign",
        limit="10000",
    ).json()["data"]
    expected = sorted(
        (r["date"], r["campaign_id"], int(r["impressions"]), int(r["clicks"]),
         Decimal(r["spend"]), int(r["conversions"]))
        for r in raw
    )  # fmt: skip
    got = sorted(
        (r["date"], r["campaign_id"], r["impressions"], r["clicks"], Decimal(r["spend"]),
         r["conversions"])
        for r in rows
    )  # fmt: skip
    assert got == expected

    totals = body["totals"]
    assert totals["impressions"] == sum(r["impressions"] for r in rows)
    assert totals["clicks"] == sum(r["clicks"] for r in rows)
    assert Decimal(totals["spend"]) == sum(Decimal(r["spend"]) for r in rows)
    assert totals["conversions"] == sum(r["conversions"] for r in rows)
    ctr = Decimal(totals["clicks"]) * 100 / Decimal(totals["impressions"])
    assert Decimal(totals["ctr"]) == ctr.quantize(Decimal("0.01"))


def test_metrics_and_account_level_pick_the_columns(backend: Backend, user: SignedIn) -> None:
    conn = connect(user)
    account = conn["accounts"][-1]
    resp = report(
        user, conn["id"], account=account["id"], since=str(SINCE), until=str(UNTIL),
        level="account", metrics="clicks,impressions",
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["account"]["id"] == account["id"]
    assert [c["key"] for c in body["columns"]] == ["date", "impressions", "clicks"]
    assert set(body["totals"]) == {"impressions", "clicks"}
    assert len(body["rows"]) == 7  # one per day


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"since": "2026-13-01", "until": "2026-11-07"}, "since"),
        ({"since": "2026-11-01", "until": "7 Nov"}, "until"),
        ({"since": "20261101", "until": "2026-11-07"}, "YYYY-MM-DD"),
        ({"until": "2026-11-07"}, "since"),
        ({"since": "2026-11-08", "until": "2026-11-07"}, "after it ends"),
        ({"since": "2020-01-01", "until": "2026-11-07"}, "at most"),
        ({"since": "2026-11-01", "until": "2026-11-07", "level": "keyword"}, "level"),
        ({"since": "2026-11-01", "until": "2026-11-07", "metrics": "clicks,likes"}, "likes"),
        ({"since": "2026-11-01", "until": "2026-11-07", "account": "act_nope"}, "not covered"),
    ],
)
def test_bad_report_requests_are_refused_in_words_and_change_nothing(
    backend: Backend, user: SignedIn, params: dict[str, str], words: str
) -> None:
    conn = connect(user)
    before = snapshot(backend)
    resp = report(user, conn["id"], **params)
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["code"] == "invalid_request"
    assert words in body["detail"]
    assert snapshot(backend) == before


def test_another_users_connection_is_not_found(
    backend: Backend, user: SignedIn, other_user: SignedIn
) -> None:
    conn = connect(user)
    before = snapshot(backend)
    resp = report(other_user, conn["id"], since=str(SINCE), until=str(UNTIL))
    assert resp.status_code == 404
    assert resp.json()["code"] == "not_found"
    assert snapshot(backend) == before


def test_a_grant_revoked_at_the_provider_needs_reconnect(backend: Backend, user: SignedIn) -> None:
    conn = connect(user)
    revoke_at_sandbox(backend)
    resp = report(user, conn["id"], since=str(SINCE), until=str(UNTIL))
    assert resp.status_code == 409, resp.text
    assert resp.json()["code"] == "needs_reconnect"
    assert "Reconnect" in resp.json()["detail"]
    listed = user.client.get(f"/v1/connections/{conn['id']}").json()
    assert listed["status"] == "needs_reconnect"
    assert listed["status_reason"]
    again = report(user, conn["id"], since=str(SINCE), until=str(UNTIL))
    assert again.status_code == 409


def test_an_expired_access_token_is_refreshed_through_the_sandbox(
    backend: Backend, user: SignedIn
) -> None:
    with short_access_tokens(backend, seconds=1):
        conn = connect(user)
        before = refreshes(backend)
        deadline = time.monotonic() + 15
        while refreshes(backend) == before:  # wait until the 1 s token counts as used up
            assert time.monotonic() < deadline, "the backend never refreshed the token"
            resp = report(user, conn["id"], since=str(SINCE), until=str(UNTIL))
            assert resp.status_code == 200, resp.text
    after = user.client.get(f"/v1/connections/{conn['id']}").json()
    assert after["status"] == "connected"
    assert after["last_refreshed_at"] > conn["last_refreshed_at"]


def test_a_provider_outage_is_a_503_and_the_status_says_so(
    backend: Backend, user: SignedIn
) -> None:
    conn = connect(user)
    with api_fails(backend):
        resp = report(user, conn["id"], since=str(SINCE), until=str(UNTIL))
    assert resp.status_code == 503, resp.text
    assert resp.json()["code"] == "provider_unavailable"
    assert "retry-after" in resp.headers
    status = user.client.get(f"/v1/connections/{conn['id']}").json()
    assert status["status"] == "error"
    assert status["last_error"]
    assert status["last_error_at"]
    assert report(user, conn["id"], since=str(SINCE), until=str(UNTIL)).status_code == 200
    assert user.client.get(f"/v1/connections/{conn['id']}").json()["status"] == "connected"


def test_a_report_is_served_while_another_process_holds_the_write_lock(
    backend: Backend, user: SignedIn
) -> None:
    """On SQLite (WAL) the report's row is read on the event loop (db.engine.reads_never_wait):
    that is only right if a reader never waits for a writer. Another process's open write
    transaction must not hold the event loop up; on PostgreSQL the read stays on a worker.

    A report also takes an in-flight slot (backend/user_limits.py): a short write, in a worker
    thread. On SQLite that one waits for the other writer (whose transactions are short now
    that none is held across a provider call) while the event loop keeps answering."""
    import sqlite3

    conn = connect(user)
    database_url = str(backend.settings.database_url)
    assert backend.state.read_inline is database_url.startswith("sqlite")
    if not backend.state.read_inline:
        with backend.state.engine.begin() as db:  # a writer elsewhere, same row
            db.exec_driver_sql(
                "SELECT id FROM connections WHERE id = %(id)s FOR UPDATE", {"id": conn["id"]}
            )
            started = time.monotonic()
            resp = report(user, conn["id"], since=str(SINCE), until=str(UNTIL))
            assert time.monotonic() - started < 20  # not held up by the locked row
    else:
        answers: list[httpx.Response] = []
        url = f"{backend.url}/v1/connections/{conn['id']}/reports"
        params = {"since": str(SINCE), "until": str(UNTIL)}
        headers = dict(user.client.headers)
        pending = threading.Thread(
            target=lambda: answers.append(
                httpx.get(url, params=params, headers=headers, timeout=60)
            )
        )
        writer = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE connections SET display_name = display_name")
            pending.start()
            # Meanwhile the event loop answers (reads inline never wait for the writer).
            for _ in range(3):
                assert user.client.get(f"/v1/connections/{conn['id']}").status_code == 200
            assert answers == []  # the report waits for its slot, off the event loop
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        pending.join(60)
        resp = answers[0]
    assert resp.status_code == 200, resp.text
