"""A device signed out at the backend is told to sign in again once, in words (issue 18:
it used to read "This device was signed out; sign in again. Sign in again.")."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.account.secure_store import MemoryStore
from desktop.account.session import Session
from desktop.api.client import ApiClient
from desktop.api.errors import ApiError
from desktop.views.errors import describe_error
from tests.backend.conftest import (  # noqa: F401  (fixtures)
    Backend,
    backend,
    backend_factory,
    sign_in,
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'backend.sqlite3'}"


def test_signed_out_device_is_told_to_sign_in_again_once(backend: Backend) -> None:  # noqa: F811
    email, password = "words@example.test", "a long enough password"
    other = sign_in(backend, email, password)  # creates the user; their other device
    session = Session(backend.url, MemoryStore())
    session.login(email, password, device_name="laptop")
    gone = other.client.delete(f"/v1/auth/devices/{session.device_id}")
    assert gone.status_code in (200, 204), gone.text
    session.invalidate()
    client = ApiClient(backend.url, auth=session)
    with pytest.raises(ApiError) as refused:
        client.connections()
    client.close()
    words = describe_error(refused.value)
    assert refused.value.code == "unauthorized"
    assert words.lower().count("sign in again") == 1, words
