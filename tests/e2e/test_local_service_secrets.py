"""The token search for the local service: after a command-line connect and reports on the
local companion service, no provider token, code or vault key is anywhere on the device in
the clear: not in the runtime folder, the data folder (the database, its WAL, the service
log), the desktop's folders, nor in any keyring item, including the one holding the vault key.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from backend.vault.crypto import KeyRing, b64encode_key
from backend.vault.keys import parse_key_body
from tests.support.browser import play_consent
from tests.support.localsvc import ROOT, LocalHome, read_line

pytestmark = [pytest.mark.e2e]

DUMP_KEYRING = """
import json, secretstorage
bus = secretstorage.dbus_init()
items = []
for item in secretstorage.get_default_collection(bus).get_all_items():
    items.append({"label": item.get_label(), "attributes": item.get_attributes(),
                  "secret": item.get_secret().decode("utf-8", "replace")})
print(json.dumps(items))
"""


@pytest.fixture
def home(tmp_path: Path) -> Iterator[LocalHome]:
    h = LocalHome(tmp_path)
    yield h
    h.close()


def _connect(home: LocalHome) -> tuple[dict[str, object], set[str]]:
    """`connect demo --no-browser --json` on the local service, playing the browser."""
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop", "connect", "demo", "--no-browser", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=home.env, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    first = json.loads(read_line(process.stdout, 120))
    location = play_consent(first["authorization_url"], timeout=60)
    query = parse_qs(urlsplit(location).query)
    assert httpx.get(location, timeout=30).status_code == 200
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out), {query["code"][0], query["state"][0]}


def _keyring_items(home: LocalHome) -> list[dict[str, object]]:
    done = home.python(DUMP_KEYRING)
    assert done.returncode == 0, done.stderr
    items: list[dict[str, object]] = json.loads(done.stdout)
    return items


def test_no_provider_secret_or_vault_key_at_rest_on_the_device(home: LocalHome) -> None:
    connection, secrets = _connect(home)
    account = connection["accounts"][0]["id"]  # type: ignore[index]
    for _ in range(2):
        report = home.cli(
            "report", str(connection["id"]), "--account", account,
            "--since", "2026-11-01", "--until", "2026-11-07", "--format", "json",
        )  # fmt: skip
        assert report.returncode == 0, report.stderr
    local_secret = (home.runtime / "local-secret").read_text().strip()

    # Learn the provider's tokens by opening the vault with the key from the keyring.
    items = _keyring_items(home)
    vault_items = [
        i for i in items
        if i["attributes"].get("service") == "connected-accounts-backend"  # type: ignore[attr-defined]
    ]  # fmt: skip
    assert len(vault_items) == 1, "the vault key is not in the keyring"
    keys = parse_key_body(str(vault_items[0]["secret"]).encode(), "the keyring item")
    ring = KeyRing(keys)
    with sqlite3.connect(home.data / "backend.sqlite3") as db:
        rows = db.execute("SELECT id, refresh_ct, access_ct FROM connections").fetchall()
    for row_id, refresh_ct, access_ct in rows:
        secrets.add(ring.open(refresh_ct, f"connection:{row_id}:refresh_token").reveal())
        if access_ct:
            secrets.add(ring.open(access_ct, f"connection:{row_id}:access_token").reveal())
    assert len(secrets) >= 4
    assert all(len(s) >= 16 for s in secrets)
    key_texts = {b64encode_key(key) for _, key in keys}

    files = [p for p in home.tmp.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"service.json", "local-secret", "backend.sqlite3", "service.log"} <= names
    assert "desktop.log" in names
    for path in files:
        data = path.read_bytes()
        for value in secrets | key_texts:
            assert value.encode() not in data, f"a secret is in {path}"
        if path.name != "local-secret":
            assert local_secret.encode() not in data, f"the local secret is in {path}"

    assert any(
        i["attributes"].get("service") == "connected-accounts"  # type: ignore[attr-defined]
        for i in items
    ), "the device's sign-in is not in the keyring"
    for item in items:
        text = json.dumps(item)
        for value in secrets:
            assert value not in text, f"a provider secret is in keyring item {item['label']!r}"
        assert local_secret not in text

    assert home.cli("service", "stop").returncode == 0
    assert not (home.runtime / "local-secret").exists()
