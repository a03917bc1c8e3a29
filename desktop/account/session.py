"""The device's sign-in with the backend: an EC P-256 device key and short-lived access JWTs."""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from desktop.account.secure_store import DeviceRecord, SecureStore, SecureStoreUnavailable
from desktop.api.client import ApiClient
from desktop.api.errors import ApiError
from desktop.api.secret import Secret

log = logging.getLogger(__name__)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 240  # seconds; the backend accepts at most 5 minutes (RFC 7523 §3 item 4)
MAX_LEAD = 60.0
BAD_SIGN_IN_ANSWER = "The backend sent a sign-in answer this app cannot read."


def sign_in_needed(detail: str = "Sign in to continue.") -> ApiError:
    return ApiError("unauthorized", detail, status=401)


def _sign_in_again(detail: str) -> str:
    """The backend's words plus "Sign in again." unless they already say so (the backend's
    "This device was signed out; sign in again." must not get a second one)."""
    detail = detail.strip()
    if "sign in again" in detail.lower():
        return detail
    return f"{detail} Sign in again.".strip()


class Session:
    """Implements the ApiClient's TokenSource; keeps the device key in the secure store."""

    def __init__(
        self,
        base_url: str,
        store: SecureStore,
        *,
        store_key: str | None = None,
        loopback: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._store = store
        # The local service's URL changes every start, so it is kept under a fixed key.
        self._store_key = store_key or self.base_url
        self._loopback = loopback
        self._http_client: ApiClient | None = None
        self._lock = threading.RLock()
        self._device_id: str | None = None
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._token: Secret | None = None
        self._renew_at = 0.0
        self.user_email: str | None = None

    # -- state ------------------------------------------------------------------------------

    @property
    def signed_in(self) -> bool:
        return self._key is not None and self._device_id is not None

    @property
    def device_id(self) -> str | None:
        return self._device_id

    @property
    def storage(self) -> str:
        """Where the sign-in is kept, e.g. "keyring (SecretService)" or "memory only"."""
        return self._store.description

    @property
    def persistent(self) -> bool:
        return self._store.persistent

    @property
    def storage_reason(self) -> str | None:
        """Why the sign-in is kept in memory only (None when it is in the keyring)."""
        return self._store.reason

    # -- sign-in ----------------------------------------------------------------------------

    def login(self, email: str, password: str, device_name: str) -> None:
        """Register a fresh device key with the backend and keep it in the secure store."""
        body = {"email": email, "password": password, "device_name": device_name}
        self._register("/v1/auth/login", body, email)

    def login_local(self, secret: bytes, device_name: str) -> None:
        """The local service's sign-in: its runtime secret proves we are the same OS user."""
        body = {"secret": secret.decode("ascii"), "device_name": device_name}
        self._register("/v1/auth/local", body, "")

    def _register(self, path: str, body: dict[str, Any], email: str) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        body = {**body, "device_public_key": public_jwk(key)}
        answer = self._http.request_json("POST", path, json=body, authenticated=False)
        if not isinstance(answer, dict) or not answer.get("access_token"):
            raise ApiError("bad_response", BAD_SIGN_IN_ANSWER)
        with self._lock:
            self._key = key
            self._device_id = str(answer["device_id"])
            user = answer.get("user") or {}
            self.user_email = str(user.get("email") or email)
            self._take_token(answer)
            self._save()

    def rebase(self, base_url: str) -> None:
        """The same backend at a new address (the local service after a restart)."""
        base_url = base_url.rstrip("/")
        with self._lock:
            if base_url == self.base_url:
                return
            old, self._http_client = self._http_client, None
            self.base_url = base_url
        if old is not None:
            old.close()

    def restore(self, *, renew: bool = True) -> bool:
        """Sign in silently from the store; False when there is nothing usable to sign in with.

        With `renew=False` only the stored sign-in is loaded (no network): enough to sign out.
        """
        try:
            record = self._store.load(self._store_key)
        except SecureStoreUnavailable as exc:
            log.warning("Cannot read the stored sign-in: %s", exc)
            return False
        if record is None:
            return False
        try:
            key = serialization.load_pem_private_key(
                record.private_key_pem.reveal().encode(), password=None
            )
        except ValueError:
            log.warning("The stored device key is unreadable; signing in again is needed")
            return False
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            return False
        with self._lock:
            self._key = key
            self._device_id = record.device_id
            self.user_email = record.user_email or None
            self._token = record.access_token
            self._renew_at = _renew_time(record.access_token)
            if not renew:
                return True
            try:
                self.access_token()
            except ApiError as exc:
                if exc.code == "unauthorized":
                    return False
                raise
        return True

    def logout(self) -> str | None:
        """Sign this device out at the backend and wipe the stored sign-in (always).

        None when the backend was told (or there was nothing to tell); else why it could not
        be, in plain words: the backend then counts this device as signed in until it expires.
        """
        with self._lock:
            device_id = self._device_id
        problem = None
        if device_id is not None:
            try:
                self._delete_device(device_id, self.access_token())
            except ApiError as exc:
                # Already signed out there (elsewhere, expired, password changed): nothing to do.
                if exc.code not in ("unauthorized", "not_found"):
                    log.warning("Could not sign this device out at the backend: %s", exc)
                    problem = exc.detail
        self._forget()
        return problem

    # -- TokenSource ------------------------------------------------------------------------

    def access_token(self) -> str:
        """A valid access JWT, renewed by a device-key assertion when it is about to expire."""
        with self._lock:
            if not self.signed_in:
                raise sign_in_needed()
            if self._token is not None and time.time() < self._renew_at:
                return self._token.reveal()
            return self._renew()

    def invalidate(self) -> None:
        with self._lock:
            self._token = None
            self._renew_at = 0.0

    def close(self) -> None:
        with self._lock:
            client, self._http_client = self._http_client, None
        if client is not None:
            client.close()

    @property
    def _http(self) -> ApiClient:
        """Made on first use: a command that reuses a stored token never needs it."""
        with self._lock:
            if self._http_client is None:
                self._http_client = ApiClient(self.base_url, loopback=self._loopback)
            return self._http_client

    # -- internals --------------------------------------------------------------------------

    def _renew(self) -> str:
        body = {"grant_type": JWT_BEARER, "assertion": self._assertion()}
        try:
            answer = self._http.request_json(
                "POST", "/v1/auth/token", json=body, authenticated=False
            )
        except ApiError as exc:
            if exc.code in ("unauthorized", "not_found"):
                # The backend no longer knows this device (signed out elsewhere, reset).
                self._forget()
                raise sign_in_needed(_sign_in_again(exc.detail)) from None
            raise
        if not isinstance(answer, dict) or not answer.get("access_token"):
            raise ApiError(
                "bad_response", "The backend sent a sign-in answer this app cannot read."
            )
        token = self._take_token(answer)
        self._save()
        return token.reveal()

    def _assertion(self) -> str:
        """RFC 7523 §3: iss = sub = device id, aud = the token endpoint, short exp, unique jti."""
        key, device_id = self._identity()
        now = int(time.time())
        claims = {
            "iss": device_id,
            "sub": device_id,
            "aud": f"{self.base_url}/v1/auth/token",
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": device_id})

    def _identity(self) -> tuple[ec.EllipticCurvePrivateKey, str]:
        if self._key is None or self._device_id is None:
            raise sign_in_needed()
        return self._key, self._device_id

    def _take_token(self, answer: dict[str, Any]) -> Secret:
        token = self._token = Secret(str(answer["access_token"]))
        expires_in = float(answer.get("expires_in") or 300)
        # Lead time proportional to the lifetime, so a short token is not renewed on every call.
        self._renew_at = time.time() + expires_in - min(MAX_LEAD, expires_in / 5)
        return token

    def _delete_device(self, device_id: str, token: str) -> None:
        client = ApiClient(self.base_url, _FixedToken(token))
        try:
            client.request_json("DELETE", f"/v1/auth/devices/{device_id}")
        finally:
            client.close()

    def _save(self) -> None:
        key, device_id = self._identity()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),  # the OS keyring is the protection (design: secrets)
        ).decode()
        record = DeviceRecord(device_id, Secret(pem), self._token, self.user_email or "")
        try:
            self._store.save(self._store_key, record)
        except SecureStoreUnavailable as exc:
            log.warning("Could not keep the sign-in in the keyring: %s", exc)

    def _forget(self) -> None:
        with self._lock:
            self._key = None
            self._device_id = None
            self._token = None
            self._renew_at = 0.0
        try:
            self._store.delete(self._store_key)
        except SecureStoreUnavailable as exc:
            log.warning("Could not remove the sign-in from the keyring: %s", exc)


class _FixedToken:
    """A TokenSource that cannot renew (used for the final sign-out call)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def invalidate(self) -> None:
        pass


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """RFC 7518 §6.2.1: the public half as a JWK (coordinates are 32-byte base64url)."""
    numbers = key.public_key().public_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    return {"kty": "EC", "crv": "P-256", "x": b64(numbers.x), "y": b64(numbers.y)}


def _renew_time(token: Secret | None) -> float:
    """When a stored token should be renewed: read its own `exp` (no need to verify our copy)."""
    if token is None:
        return 0.0
    try:
        claims = jwt.decode(token.reveal(), options={"verify_signature": False})
        exp = float(claims["exp"])
        iat = float(claims.get("iat", exp - 300))
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return 0.0
    return exp - min(MAX_LEAD, (exp - iat) / 5)
