"""The command-line twins of the window (`check`, `accounts`, `devices`, `disconnect --json`,
`list` with account names and the 14-day warning) end to end: real `connected-accounts`
processes against a real backend with Demo Ads, their `--json` compared with the API's own
answer to a direct call by another device of the same user."""

from __future__ import annotations

import json
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.sandbox.admin import admin_headers, read_token_file
from tests.backend.conftest import new_device_key
from tests.desktop.cli.test_cli_backend import (  # noqa: F401 (module-scoped fixtures)
    EMAIL,
    PASSWORD,
    Env,
    cli,
    connect_demo,
    env,
    signed_in,
)

FAULTS = "/sandbox/admin/clients/demo-desktop/faults"
DAY = 86_400


def direct_login(where: Env, name: str) -> httpx.Client:
    """Another device of the same user, calling the API itself."""
    _, jwk = new_device_key()
    body = {"email": EMAIL, "password": PASSWORD, "device_name": name, "device_public_key": jwk}
    answer = httpx.post(f"{where.backend_url}/v1/auth/login", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    return httpx.Client(
        base_url=where.backend_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def admin_of(where: Env) -> dict[str, str]:
    """Demo Ads' admin headers: the token its backend wrote in its data folder this start."""
    return admin_headers(read_token_file(Path(where.vars["CONNECTED_ACCOUNTS_DATA_DIR"])))


@pytest.fixture
def api(signed_in: Env) -> Iterator[httpx.Client]:  # noqa: F811
    client = direct_login(signed_in, "Test phone")
    yield client
    client.close()


@pytest.fixture
def grant_days(signed_in: Env) -> Iterator[Any]:  # noqa: F811
    """Set Demo Ads' grant lifetime for the next connects; back to 60 days afterwards."""

    def set_days(days: int) -> None:
        done = httpx.post(
            signed_in.backend_url + FAULTS,
            json={"grant_lifetime": days * DAY},
            headers=admin_of(signed_in),
        )
        assert done.status_code == 200, done.text

    yield set_days
    set_days(60)


def connect(where: Env) -> dict[str, Any]:
    code, out, err = connect_demo(where)
    assert code == 0, err
    connection: dict[str, Any] = json.loads(out)
    return connection


def test_devices_match_the_api_and_sign_out(signed_in: Env, api: httpx.Client) -> None:  # noqa: F811
    listed = cli(signed_in, "devices", "--json")
    assert listed.returncode == 0, listed.stderr
    mine = json.loads(listed.stdout)
    theirs = api.get("/v1/auth/devices").json()

    def without_current(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(({k: v for k, v in d.items() if k != "current"} for d in devices),
                      key=lambda d: str(d["id"]))  # fmt: skip

    assert without_current(mine) == without_current(theirs)
    by_name = {d["name"]: d for d in mine}
    assert by_name[f"{platform.node()} command line"]["current"] is True
    phone = by_name["Test phone"]
    assert phone["current"] is False
    assert [d["name"] for d in theirs if d["current"]] == ["Test phone"]

    table = cli(signed_in, "devices")
    assert table.returncode == 0, table.stderr
    assert f"{platform.node()} command line (this device)" in table.stdout
    assert "Test phone" in table.stdout

    own = cli(signed_in, "devices", "sign-out", by_name[f"{platform.node()} command line"]["id"])
    assert own.returncode == 2
    assert "logout" in own.stderr
    assert cli(signed_in, "devices", "sign-out", "no-such-device").returncode == 2

    gone = cli(signed_in, "devices", "sign-out", phone["id"][:12])
    assert gone.returncode == 0, gone.stderr
    assert "Signed out Test phone" in gone.stdout
    assert api.get("/v1/auth/devices").status_code == 401
    after = json.loads(cli(signed_in, "devices", "--json").stdout)
    assert phone["id"] not in [d["id"] for d in after]


def test_check_accounts_list_and_the_expiry_warning(
    signed_in: Env,  # noqa: F811
    api: httpx.Client,
    grant_days: Any,
) -> None:
    grant_days(10)
    soon = connect(signed_in)
    listed = cli(signed_in, "list")
    assert listed.returncode == 0, listed.stderr
    warnings = [line for line in listed.stdout.splitlines() if "Expires in" in line]
    assert warnings == [f"{soon['id'][:8]}: Expires in 10 days: reconnect to keep reports "
                        f"flowing ({soon['expiry_reason']})"], listed.stdout  # fmt: skip
    assert soon["accounts"][0]["name"] in listed.stdout  # account names, not a count

    grant_days(20)  # reconnecting brings a grant that lapses after the warning window
    later = connect(signed_in)
    assert later["id"] == soon["id"]
    listed = cli(signed_in, "list")
    assert "Expires in" not in listed.stdout
    assert later["expires_at"] > soon["expires_at"]

    checked = cli(signed_in, "check", soon["id"][:8], "--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout) == api.get(f"/v1/connections/{soon['id']}").json()

    every = cli(signed_in, "check", "--json")
    assert every.returncode == 0, every.stderr
    live = [c for c in api.get("/v1/connections").json() if c["status"] != "disconnected"]
    assert json.loads(every.stdout) == live

    accounts = cli(signed_in, "accounts", later["id"][:8], "--json")
    assert accounts.returncode == 0, accounts.stderr
    assert json.loads(accounts.stdout) == api.get(f"/v1/connections/{later['id']}/accounts").json()
    as_table = cli(signed_in, "accounts", later["id"][:8])
    assert all(a["name"] in as_table.stdout for a in later["accounts"])

    revoked = httpx.post(
        f"{signed_in.backend_url}/sandbox/admin/grants/revoke",
        json={},
        headers=admin_of(signed_in),
    )
    assert revoked.status_code == 200, revoked.text
    lapsed = cli(signed_in, "check", soon["id"])
    assert lapsed.returncode == 4, lapsed.stdout + lapsed.stderr
    now = api.get(f"/v1/connections/{soon['id']}").json()
    assert now["status"] == "needs_reconnect"
    assert now["status_reason"] in lapsed.stdout


def test_disconnect_json_is_the_api_answer(signed_in: Env) -> None:  # noqa: F811
    connection = connect(signed_in)
    done = cli(signed_in, "disconnect", connection["id"], "--yes", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["connection_id"] == connection["id"]
    assert answer["revoked"]
    assert answer["revocation_pending"] is False
    assert set(answer) == {"connection_id", "provider", "revoked", "not_revoked",
                           "revocation_pending", "message"}  # fmt: skip
    listed = json.loads(cli(signed_in, "list", "--json").stdout)
    assert connection["id"] not in [c["id"] for c in listed if c["status"] != "disconnected"]


def test_unknown_provider_is_a_usage_error(signed_in: Env) -> None:  # noqa: F811
    done = cli(signed_in, "connect", "meta", "--no-browser")
    assert done.returncode == 2
    assert "no provider called 'meta'" in done.stderr
    assert "Demo Ads (demo)" in done.stderr
