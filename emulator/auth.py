"""Bearer tokens and presigned upload URLs, both HMAC-SHA256 signed and stateless.

Token: ``ioe.<base64url(JSON {cid, exp, jti})>.<signature>``; valid until ``exp`` (unix
seconds). Presigned URL: ``/_storage/<uploadId>?expires=<unix>&signature=<hex>`` where the
signature covers the method, path and expiry — changing any of them, or using it after
``expires``, answers 403 (like an S3 presigned URL; contract §3.2).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Any

from emulator.errors import ApiError

_TAG = "ioe"  # marks the emulator's tokens


class Signer:
    """HMAC-SHA256 over ``\\n``-joined parts with one secret key."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)

    def sign(self, *parts: str) -> str:
        """Hex signature of the parts."""
        message = "\n".join(parts).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def verify(self, signature: str, *parts: str) -> bool:
        """Constant-time check of a hex signature."""
        return hmac.compare_digest(self.sign(*parts), signature)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def issue_token(signer: Signer, client_id: str, lifetime: float, now: float) -> str:
    """A bearer token for ``client_id`` expiring ``lifetime`` seconds after ``now``."""
    claims = {"cid": client_id, "exp": now + lifetime, "jti": secrets.token_hex(8)}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{_TAG}.{payload}.{signer.sign(_TAG, payload)}"


def _claims(signer: Signer, token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _TAG or not signer.verify(parts[2], *parts[:2]):
        return None
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(raw)
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def authorize(signer: Signer, header: str | None, now: float) -> None:
    """Check an ``Authorization`` header: 401 when missing, 403 when invalid or expired.

    Contract §6: the gateway answers 403 for an expired token ([BP] refreshes on 403).
    """
    if not header:
        raise ApiError(401, "unauthorized", "missing Authorization: Bearer <token> header")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(403, "forbidden", "Authorization must be 'Bearer <token>'")
    claims = _claims(signer, token.strip())
    if claims is None:
        raise ApiError(403, "forbidden", "invalid access token")
    expiry = claims.get("exp")
    if not isinstance(expiry, int | float) or now >= expiry:
        raise ApiError(403, "forbidden", "access token expired")


def presign(signer: Signer, upload_id: str, expires: int) -> str:
    """The path and query of a presigned PUT for ``upload_id``."""
    path = f"/_storage/{upload_id}"
    return f"{path}?expires={expires}&signature={signer.sign('PUT', path, str(expires))}"


def check_presigned(signer: Signer, path: str, expires: str, signature: str, now: float) -> None:
    """403 unless the signature matches and ``expires`` has not passed."""
    if not signer.verify(signature, "PUT", path, expires):
        raise ApiError(403, "signature_mismatch", "the URL's signature does not match")
    if not expires.isdigit() or now >= int(expires):
        raise ApiError(403, "url_expired", "the presigned URL has expired")
