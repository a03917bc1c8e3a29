"""A full disk under the SQLite file (a real 8 MiB tmpfs, filled up).

Rule: design rule "Errors are values a user can act on" and "Storage" — when the database cannot be
written the API answers with a clear problem (never a hang, never a half-written token), nothing
stored is corrupted, and it works again as soon as space returns.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.app import create_app
from backend.config import Settings
from tests.backend.api.conftest import ApiBackend, connect, start_flow
from tests.backend.api.sandbox import demo_toml
from tests.backend.conftest import TEST_VAULT_KEY, SignedIn, sign_in
from tests.support.servers import UvicornThread, bind_loopback


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(  # root in the test container
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture
def disk_backend(small_disk: Path, sandbox_url: str, tmp_path: Path) -> Iterator[ApiBackend]:
    sock = bind_loopback()
    config = tmp_path / "config.toml"
    config.write_text(demo_toml(sandbox_url))
    settings = Settings(
        database_url=f"sqlite:///{small_disk / 'backend.sqlite3'}",
        data_dir=tmp_path / "data",
        host="127.0.0.1",
        port=sock.getsockname()[1],
        config=config,
        vault_keys=TEST_VAULT_KEY,
    )
    app = create_app(settings)
    server = UvicornThread(app, sock=sock).start()
    try:
        yield ApiBackend(server=server, state=app.state.ca, settings=settings, sandbox=sandbox_url)
    finally:
        server.stop()
        app.state.ca.engine.dispose()


def fill(disk: Path) -> Path:
    """Fill the disk to the last byte (unbuffered writes until ENOSPC)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def test_full_disk_fails_writes_keeps_reads_corrupts_nothing_and_recovers(
    disk_backend: ApiBackend, small_disk: Path
) -> None:
    user: SignedIn = sign_in(disk_backend)
    first = connect(user)
    filler = fill(small_disk)

    for _ in range(3):  # writes fail in words while the disk is full, on the same connection
        resp = user.client.post(
            "/v1/flows",
            json={"provider": "demo", "redirect_uri": "http://127.0.0.1:5000/callback"},
        )
        assert resp.status_code == 503, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"] == "storage_unavailable"
        assert "disk space" in resp.json()["detail"]
        assert resp.headers["retry-after"] == "5"
    # Reads still answer while the disk is full, on the same kept-alive connection.
    listed = user.client.get("/v1/connections")
    assert listed.status_code == 200, listed.text
    assert [c["id"] for c in listed.json()] == [first["id"]]

    filler.unlink()
    user.client.close()
    user.client = disk_backend.client(headers=dict(user.client.headers))
    start_flow(user)
    again = connect(user)
    assert again["id"] == first["id"]
    report = user.client.get(
        f"/v1/connections/{first['id']}/reports",
        params={
            "account": first["accounts"][0]["id"],
            "since": "2026-11-01",
            "until": "2026-11-02",
        },
    )
    assert report.status_code == 200, report.text
    disk_backend.state.engine.dispose()
    with sqlite3.connect(small_disk / "backend.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
