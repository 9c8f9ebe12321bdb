"""Request helpers shared by the routes: headers, bounded bodies, JSON answers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulator.errors import ApiError, bad_request
from emulator.requests import decode

_THREAD_BYTES = 1 << 20  # parse/serialise bigger payloads off the event loop


def header(request: Request, name: str, max_length: int = 256) -> str:
    """A required header's value (contract §3: ``tenantId``, ``jobId`` are headers)."""
    value = request.headers.get(name, "").strip()
    if not value:
        raise bad_request(f"missing header {name}", "missing_header")
    if len(value) > max_length:
        raise bad_request(f"header {name} is longer than {max_length} characters")
    return value


async def body(request: Request, limit: int) -> bytes:
    """The request body; 413 past ``limit`` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, limit: int) -> Any:
    """The request body parsed as JSON; 400 when it is not JSON."""
    raw = await body(request, limit)
    if not raw.strip():
        raise bad_request("body is empty; a JSON body is required", "invalid_json")
    if len(raw) > _THREAD_BYTES:
        return await asyncio.to_thread(decode, raw)
    return decode(raw)


def _dumps(content: Any) -> bytes:
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


async def json_response(content: Any, status: int = 200, big: bool = False) -> Response:
    """A JSON answer; ``big`` ones are serialised in a worker thread."""
    data = await asyncio.to_thread(_dumps, content) if big else _dumps(content)
    return Response(data, status_code=status, media_type="application/json")
