"""The embedded set-up: Demo Ads mounted at /sandbox inside the backend, provider `demo` on it."""

from __future__ import annotations

from tests.backend.api.conftest import LOOPBACK, query_of
from tests.backend.conftest import BackendFactory, sign_in
from tests.support.browser import play_consent


def test_connect_report_and_disconnect_with_the_mounted_sandbox(
    backend_factory: BackendFactory,
) -> None:
    backend = backend_factory()  # sandbox on, no provider config: `demo` is the mounted one
    user = sign_in(backend)
    flow = user.client.post("/v1/flows", json={"provider": "demo", "redirect_uri": LOOPBACK})
    assert flow.status_code == 201, flow.text
    started = flow.json()
    assert started["authorization_url"].startswith(f"{backend.sandbox_url}/authorize?")
    back = query_of(play_consent(started["authorization_url"]))
    assert back["iss"] == backend.sandbox_url  # RFC 9207: equals the provider's issuer
    done = user.client.post(f"/v1/flows/{started['flow_id']}/complete", json=back)
    assert done.status_code == 200, done.text
    conn = done.json()
    report = user.client.get(
        f"/v1/connections/{conn['id']}/reports",
        params={"since": "2026-11-01", "until": "2026-11-07"},
    )
    assert report.status_code == 200, report.text
    assert len(report.json()["rows"]) == 7
    gone = user.client.delete(f"/v1/connections/{conn['id']}")
    assert gone.status_code == 200
    assert gone.json()["revoked"][0] == "refresh_token"
    assert user.client.get("/v1/connections").json() == []
