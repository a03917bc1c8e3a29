"""The real Demo Ads sandbox, served by uvicorn, driven through its admin API.

The sandbox rotates refresh tokens and revokes the whole grant when an old one comes back
(RFC 9700 §4.14.2), so a refresh engine that ever sends a spent token shows up in its counters.
"""

from __future__ import annotations

import time
from typing import Any

from backend.sandbox.app import create_sandbox_app
from backend.sandbox.config import SandboxConfig, UserConfig
from tests.support import sandbox_admin
from tests.support.servers import UvicornThread

CLIENT = "demo-desktop"
PEOPLE = [f"user-v{n:02d}" for n in range(16)]


class SandboxDriver:
    """Knobs and counters of one running sandbox; `clock_offset_s` moves its clock."""

    def __init__(self) -> None:
        self.clock_offset_s = 0.0
        config = SandboxConfig(
            admin_api=True,
            users=[UserConfig(id=p, name=f"Vault {p}", email=f"{p}@x.example") for p in PEOPLE],
        )
        app = create_sandbox_app(config, clock=lambda: time.time() + self.clock_offset_s)
        self.server = UvicornThread(app).start()
        self.url = self.server.url
        self.admin = sandbox_admin.client(self.url)
        self._next_person = 0

    def close(self) -> None:
        self.admin.close()
        self.server.stop()

    def next_person(self) -> str:
        person = PEOPLE[self._next_person]
        self._next_person += 1
        return person

    def faults(self, **knobs: Any) -> None:
        resp = self.admin.post(f"/admin/clients/{CLIENT}/faults", json=knobs)
        assert resp.status_code == 200, resp.text

    def stats(self) -> dict[str, int]:
        counters: dict[str, int] = self.admin.get("/admin/stats").json()[CLIENT]
        return counters

    def grant_of(self, person: str) -> dict[str, Any]:
        grants = [
            g for g in self.admin.get("/admin/grants").json()["data"] if g["user_id"] == person
        ]
        assert len(grants) == 1, grants
        return grants[0]

    def revoke_grant(self, person: str) -> None:
        """As if the person removed the app on the provider's site."""
        resp = self.admin.post("/admin/grants/revoke", json={"user_id": person})
        assert resp.json() == {"revoked": 1}

    def expire_access_tokens(self) -> None:
        assert self.admin.post("/admin/tokens/expire").status_code == 200
