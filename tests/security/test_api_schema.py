"""Schemathesis against the running backend's /openapi.json, signed in as a user.

Rules: DESIGN "HTTP API" — errors are RFC 9457 problem+json with a stable code, never a 5xx for
anything a client can send; every response fits the schema the backend publishes, with a status
code and a media type the schema documents for that route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine

from tests.backend.api.conftest import ApiBackend, ApiFactory, query_of, start_flow
from tests.backend.conftest import sign_in
from tests.support.browser import play_consent

EXAMPLES = 20
CONFORMANCE = [response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def signed_in_headers(backend: ApiBackend) -> dict[str, str]:
    return {"Authorization": f"Bearer {sign_in(backend).access_token}"}


@pytest.fixture(scope="module")
def api_schema(backend: ApiBackend) -> Any:
    return schemathesis.openapi.from_url(f"{backend.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_and_every_response_fits_the_published_schema(
    case: Any, signed_in_headers: dict[str, str]
) -> None:
    """DESIGN "HTTP API": no 5xx for anything a client sends; every response has a status code
    and a media type its route documents (problem+json for errors, HTML pages and a 303 for
    the browser-facing relay callback) and fits the documented schema."""
    case.call_and_validate(headers=signed_in_headers, checks=[not_a_server_error, *CONFORMANCE])


def test_healthz_with_the_database_down_answers_as_documented(
    backend: ApiBackend, api_schema: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DESIGN "HTTP API": every response fits the published schema — also the 503 `/healthz`
    gives while the database is unreachable (fuzzing never reaches it; a 503 is its answer)."""
    unreachable = create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'db.sqlite3'}")
    monkeypatch.setattr(backend.state, "engine", unreachable)
    case = api_schema["/healthz"]["GET"].Case()
    response = case.call_and_validate(checks=CONFORMANCE)
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_relay_callback_redirect_and_pages_are_documented(
    api_factory: ApiFactory, api_schema: Any
) -> None:
    """DESIGN "HTTP API": every response fits the published schema — the browser-facing relay
    callback's 303 to the loopback receiver, its "already finished" page (409) and its "unknown
    sign-in" page (400) are documented, as HTML, for that route (fuzzing reaches only the 400)."""
    relay = api_factory(redirect="backend")
    flow = start_flow(sign_in(relay))
    back = query_of(play_consent(flow["authorization_url"]))
    callback = api_schema["/v1/flows/callback"]["GET"]
    answers = []
    for query in (back, back, {"state": "made-up", "code": "abc"}):
        case = callback.Case(query=query)
        response = case.call_and_validate(
            base_url=relay.url, checks=CONFORMANCE, allow_redirects=False
        )
        answers.append((response.status_code, response.headers.get("content-type", [""])[0]))
    assert answers[0][0] == 303
    assert [status for status, _ in answers[1:]] == [409, 400]
    assert all(kind.startswith("text/html") for _, kind in answers[1:])
