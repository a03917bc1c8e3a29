"""Request and response bodies of the connect-flow endpoints (docs/ARCHITECTURE.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FlowCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=100)
    redirect_uri: str = Field(min_length=1, max_length=2000)


class FlowCreated(BaseModel):
    flow_id: str
    authorization_url: str = Field(repr=False)
    state: str = Field(repr=False)
    expires_at: str


class FlowComplete(BaseModel):
    """What the loopback receiver got back from the browser (RFC 6749 §4.1.2, §4.1.2.1).

    Other fields are ignored: a receiver may pass on everything the redirect carried
    (RFC 6749 §3.1.2 lets providers add parameters, e.g. Google's `scope` and `authuser`)."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    # Never shown by repr(): a logged request body must not carry the code or the state.
    state: str = Field(min_length=1, max_length=500, repr=False)
    code: str | None = Field(default=None, min_length=1, max_length=4000, repr=False)
    iss: str | None = Field(default=None, max_length=2000)
    error: str | None = Field(default=None, max_length=200)
    error_description: str | None = Field(default=None, max_length=2000)
    # Backend relay: the one-time ticket the browser brought back (parking.py).
    relay_ticket: str | None = Field(default=None, min_length=1, max_length=200, repr=False)
