"""Schemathesis against the running backend's /openapi.json, signed in as a user.

Rules: DESIGN "HTTP API" — errors are RFC 9457 problem+json with a stable code, never a 5xx for
anything a client can send; every response fits the schema the backend publishes.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.backend.api.conftest import ApiBackend
from tests.backend.conftest import sign_in

EXAMPLES = 20


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
    """DESIGN "HTTP API": no 5xx for anything a client sends; documented responses fit their
    schema. (Status-code and media-type conformance wait for the problem responses to be
    documented in the OpenAPI: see the suite's report.)"""
    case.call_and_validate(
        headers=signed_in_headers,
        checks=[
            not_a_server_error,
            response_schema_conformance,
        ],
    )
