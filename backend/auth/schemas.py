"""Request and response bodies of /v1/auth (shapes fixed in docs/ARCHITECTURE.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from backend.auth.device_keys import normalize_device_jwk
from backend.auth.passwords import MAX_PASSWORD_CHARS


class DeviceIn(BaseModel):
    """The device a sign-in is for: its name and its public key (both ways of signing in)."""

    model_config = ConfigDict(extra="ignore")

    device_name: Annotated[str, Field(min_length=1, max_length=200)]
    device_public_key: dict[str, Any]

    @field_validator("device_name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("The device name cannot be blank.")
        return value

    @field_validator("device_public_key")
    @classmethod
    def _jwk(cls, value: dict[str, Any]) -> dict[str, Any]:
        return normalize_device_jwk(value)


class LoginRequest(DeviceIn):
    email: Annotated[str, Field(min_length=1, max_length=320)]
    # SecretStr: the password never shows in a repr, a log line or a validation error.
    password: Annotated[SecretStr, Field(min_length=1, max_length=MAX_PASSWORD_CHARS)]


class UserOut(BaseModel):
    id: str
    email: str


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name
    expires_in: int
    device_id: str


class LoginResponse(TokenResponse):
    user: UserOut


class DeviceOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    last_seen_at: datetime | None
    current: bool


class SignedOutOthers(BaseModel):
    """The answer to DELETE /v1/auth/devices."""

    signed_out: int = Field(description="how many other devices were signed out")
