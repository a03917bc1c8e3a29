"""Schemathesis against the running backend's /openapi.json, signed in as a user.

Rules: design rule "HTTP API" — errors are RFC 9457 problem+json with a stable code, never a 5xx for
anything a client can send; every response fits the schema the backend publishes, with a status
code and a media type the schema documents for that route.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import JsonSchemaError
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine

from backend.app import create_app
from tests.backend.api.conftest import (
    ApiBackend,
    ApiFactory,
    complete,
    consent,
    query_of,
    start_flow,
)
from tests.backend.conftest import sign_in
from tests.support.browser import play_consent
from tests.support.servers import UvicornThread

EXAMPLES = 20
CONFORMANCE = [response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def signed_in_headers(backend: ApiBackend) -> dict[str, str]:
    return {"Authorization": f"Bearer {sign_in(backend).access_token}"}


@pytest.fixture(scope="module")
def api_schema(backend: ApiBackend) -> Any:
    return schemathesis.openapi.from_url(f"{backend.url}/openapi.json")


# GET /v1/events answers an endless stream, which a fuzzer would wait on for ever; its refusals
# are checked against the schema below, and its stream in tests/backend/events.
schema = schemathesis.pytest.from_fixture("api_schema").exclude(path="/v1/events")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_and_every_response_fits_the_published_schema(
    case: Any, signed_in_headers: dict[str, str]
) -> None:
    """design rule "HTTP API": no 5xx for anything a client sends; every response has a status code
    and a media type its route documents (problem+json for errors, HTML pages and a 303 for
    the browser-facing relay callback) and fits the documented schema."""
    case.call_and_validate(headers=signed_in_headers, checks=[not_a_server_error, *CONFORMANCE])


def test_healthz_with_the_database_down_answers_as_documented(
    backend: ApiBackend, api_schema: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """design rule "HTTP API": every response fits the published schema — also the 503 `/healthz`
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
    """design rule "HTTP API": every response fits the published schema — the browser-facing relay
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


def _json_2xx_schemas(spec: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            for status, answer in operation.get("responses", {}).items():
                if status.startswith("2"):
                    for media, body in answer.get("content", {}).items():
                        if media == "application/json":
                            yield path, method, status, body.get("schema", {})


def _named(schema: dict[str, Any]) -> bool:
    """A `$ref` into components/schemas, or an array of such."""
    if schema.get("type") == "array":
        schema = schema.get("items", {})
    return str(schema.get("$ref", "")).startswith("#/components/schemas/")


def test_every_v1_json_answer_has_a_named_schema(backend: ApiBackend) -> None:
    """A 2xx JSON body documented as "any object" cannot fail the conformance check: each one
    names its model (ConnectionOut, ReportOut, ProviderOut, DisconnectOut, …)."""
    spec = httpx.get(f"{backend.url}/openapi.json", timeout=30).json()
    answers = list(_json_2xx_schemas(spec))
    assert len(answers) >= 12  # the check itself looked at the API
    unnamed = [(method, path, status) for path, method, status, s in answers if not _named(s)]
    assert unnamed == []
    documented = {path for path, *_ in answers}
    assert "/v1/connections/{connection_id}/reports" in documented


def _connected(backend: ApiBackend) -> tuple[dict[str, str], dict[str, Any]]:
    user = sign_in(backend)
    flow = start_flow(user)
    resp = complete(user, flow, consent(flow))
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {user.access_token}"}, resp.json()


def test_real_answers_fit_their_named_schemas(backend: ApiBackend, api_schema: Any) -> None:
    """With a real connection (fuzzing has none): every answer the desktop reads, report
    included (sent pre-serialized, so only this check holds it to ReportOut)."""
    headers, conn = _connected(backend)
    one = {"connection_id": conn["id"]}
    report_query = {"account": conn["accounts"][0]["id"], "since": "2026-11-01",
                    "until": "2026-11-03", "level": "campaign"}  # fmt: skip
    calls = [
        ("/v1/providers", "GET", {}, {}),
        ("/v1/connections", "GET", {}, {}),
        ("/v1/connections/{connection_id}", "GET", one, {"check": "true"}),
        ("/v1/connections/{connection_id}/accounts", "GET", one, {}),
        ("/v1/connections/{connection_id}/reports", "GET", one, report_query),
        (
            "/v1/connections/{connection_id}/reports",
            "GET",
            one,
            {**report_query, "level": "account", "metrics": "clicks,ctr"},
        ),
        ("/v1/connections/{connection_id}", "DELETE", one, {}),
        ("/v1/connections/{connection_id}", "DELETE", one, {}),  # already disconnected
    ]
    for path, method, path_parameters, query in calls:
        case = api_schema[path][method].Case(path_parameters=path_parameters, query=query)
        response = case.call_and_validate(headers=headers, checks=CONFORMANCE)
        assert response.status_code == 200, (path, response.text)


class _DropField:
    """Test-only ASGI wrapper: the JSON object answered at `path` loses `field`."""

    def __init__(self, app: Any, path: str, field: str) -> None:
        self.app, self.path, self.field = app, path, field

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body = bytearray()

        async def mutate(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            answer = json.loads(body)
            del answer[self.field]
            out = json.dumps(answer).encode()
            kept = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            length = (b"content-length", str(len(out)).encode())
            await send({**start, "headers": [*kept, length]})
            await send({"type": "http.response.body", "body": out})

        await self.app(scope, receive, mutate)


def test_schema_conformance_catches_a_field_removed_from_an_answer(
    backend: ApiBackend, api_schema: Any
) -> None:
    """The proof that the named schemas bite: the same backend behind a wrapper that drops
    `status` from a connection fails schemathesis's response-schema conformance."""
    headers, conn = _connected(backend)
    path = f"/v1/connections/{conn['id']}"
    case = api_schema["/v1/connections/{connection_id}"]["GET"].Case(
        path_parameters={"connection_id": conn["id"]}
    )
    case.call_and_validate(headers=headers, checks=[response_schema_conformance])  # as built
    mutant = UvicornThread(_DropField(create_app(backend.settings), path, "status")).start()
    try:
        assert "status" not in httpx.get(mutant.url + path, headers=headers, timeout=30).json()
        with pytest.raises(FailureGroup) as caught:
            case.call_and_validate(
                base_url=mutant.url, headers=headers, checks=[response_schema_conformance]
            )
    finally:
        mutant.stop()
    found = [e for e in caught.value.exceptions if isinstance(e, JsonSchemaError)]
    assert [e.validation_message for e in found] == ['"status" is a required property']


def test_event_stream_refusals_are_documented(
    api_schema: Any, signed_in_headers: dict[str, str]
) -> None:
    """design rule "HTTP API": the event stream's refusals (no sign-in, a malformed Last-Event-ID)
    are problem+json answers its route documents."""
    events = api_schema["/v1/events"]["GET"]
    unsigned = events.Case().call_and_validate(checks=[not_a_server_error, *CONFORMANCE])
    assert unsigned.status_code == 401
    bad = events.Case(headers={**signed_in_headers, "last-event-id": "x"})
    malformed = bad.call_and_validate(checks=[not_a_server_error, *CONFORMANCE])
    assert malformed.status_code == 422
    assert malformed.json()["code"] == "invalid_request"
