"""The two routes outside the IO API: the OAuth2 token endpoint and presigned storage.

``POST /connect/token`` (contract §2): form-encoded client-credentials grant; client
credentials in the form or as HTTP Basic (RFC 6749 §2.3.1). ``PUT /_storage/{uploadId}``
(contract §3.2): the presigned upload — no auth header, any or no content type.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import time
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator.auth import check_presigned, issue_token
from emulator.errors import ApiError, bad_request
from emulator.http import body
from emulator.requests import decode, parse_upload
from emulator.state import Emulator

_FORM = "application/x-www-form-urlencoded"


def _oauth_error(status: int, error: str, message: str) -> ApiError:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="io-emulator"'
    return ApiError(status, error, message, headers)


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class Edge:
    """Token endpoint and presigned storage of one :class:`Emulator`."""

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    def routes(self) -> list[Route]:
        """``/connect/token`` and ``/_storage/{uploadId}``."""
        return [
            Route("/connect/token", self.token, methods=["POST"]),
            Route("/_storage/{uploadId}", self.upload, methods=["PUT"]),
        ]

    async def _form(self, request: Request) -> dict[str, str]:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM:
            raise _oauth_error(400, "invalid_request", f"Content-Type must be {_FORM}")
        raw = await body(request, 64 * 1024)
        try:
            parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _oauth_error(400, "invalid_request", f"form is not valid: {exc}") from exc
        return {key: values[0] for key, values in parsed.items()}

    async def token(self, request: Request) -> Response:
        """POST /connect/token — ``access_token``, ``expires_in``, ``token_type``."""
        form = await self._form(request)
        if form.get("grant_type") != "client_credentials":
            raise _oauth_error(
                400, "unsupported_grant_type", "grant_type must be client_credentials"
            )
        basic = _basic(request.headers.get("authorization"))
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        cfg = self.emu.config
        good_id = hmac.compare_digest(client_id.encode(), cfg.client_id.encode())
        good_secret = hmac.compare_digest(
            secret.encode(), cfg.client_secret.get_secret_value().encode()
        )
        if not (good_id and good_secret):
            raise _oauth_error(401, "invalid_client", "unknown client or wrong client secret")
        lifetime = cfg.token_lifetime_seconds
        token = issue_token(self.emu.signer, client_id, lifetime, time.time())
        content = {"access_token": token, "token_type": "Bearer", "expires_in": int(lifetime)}
        if form.get("scope"):
            content["scope"] = form["scope"]
        return JSONResponse(content, headers={"Cache-Control": "no-store"})

    async def upload(self, request: Request) -> Response:
        """PUT /_storage/{uploadId} — store the body and start its job (contract §3.2)."""
        upload_id = request.path_params["uploadId"]
        expires = request.query_params.get("expires", "")
        signature = request.query_params.get("signature", "")
        if not expires or not signature:
            raise ApiError(
                403, "signature_missing", "expires and signature query parameters are required"
            )
        check_presigned(self.emu.signer, request.url.path, expires, signature, time.time())
        slot = self.emu.uploads.get(upload_id)
        if slot is None:
            raise ApiError(403, "no_such_upload", "this presigned URL is not (or no longer) known")
        raw = await body(request, self.emu.config.max_body_bytes)
        digest = hashlib.sha256(raw).hexdigest()
        etag = {"ETag": f'"{digest[:32]}"'}
        if slot.body_hash is not None:
            if slot.body_hash == digest:  # a retried PUT of the same body: nothing new
                return Response(status_code=200, headers=etag)
            raise ApiError(409, "upload_already_used", "this URL already received a different body")
        parsed = await asyncio.to_thread(decode, raw) if raw.strip() else None
        if parsed is None:
            raise bad_request("body is empty; a JSON body is required", "invalid_json")
        upload = parse_upload(parsed, for_prediction=slot.kind == "prediction")
        slot.body_hash = digest
        self.emu.stats.uploads += 1
        engine = self.emu.engine
        if slot.kind == "prediction":
            engine.upload_prediction(slot.tenant, slot.job_id, upload)
        else:
            engine.validation(slot.tenant, slot.job_id, upload)
        return Response(status_code=200, headers=etag)
