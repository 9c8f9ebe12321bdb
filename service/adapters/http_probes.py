"""One small HTTP server: GET /metrics, /healthz, /readyz, and POST /webhooks/io when enabled.

asyncio streams, HTTP/1.1 with ``Connection: close``; bodies up to 256 KiB. Liveness never
checks Kafka or the IO API (an outage must not restart every pod at once; kafka-pitfalls.md):
it fails only when one of our own loops stopped beating. Readiness waits for assigned
partitions to be restored and the broker to answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Probe = Callable[[], tuple[bool, str]]
Answer = tuple[int, str, bytes]
PostHandler = Callable[[Mapping[str, str], bytes], Awaitable[Answer]]
MAX_BODY = 256 * 1024
REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    503: "Service Unavailable",
}


class ProbeServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        live: Probe,
        ready: Probe,
        posts: Mapping[str, PostHandler] | None = None,
    ) -> None:
        self._registry = registry
        self._gets: dict[str, Callable[[], Answer]] = {
            "/metrics": self._metrics,
            "/healthz": lambda: _probe(live),
            "/readyz": lambda: _probe(ready),
        }
        self._posts = dict(posts or {})
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._handle, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _metrics(self) -> Answer:
        return 200, CONTENT_TYPE_LATEST, generate_latest(self._registry)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            status, ctype, body = await self._route(head, reader)
            writer.write(_response(status, ctype, body))
            await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            ValueError,
        ):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _route(self, head: bytes, reader: asyncio.StreamReader) -> Answer:
        lines = head.decode("latin-1").split("\r\n")
        method, target = [*lines[0].split(" "), "", ""][:2]
        path = target.split("?")[0]
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)
        }
        if method == "GET" and path in self._gets:
            return self._gets[path]()
        if method == "POST" and path in self._posts:
            length = int(headers.get("content-length", "0") or 0)
            if length > MAX_BODY:
                return 413, "text/plain", b"too large\n"
            body = await asyncio.wait_for(reader.readexactly(length), 10) if length else b""
            return await self._posts[path](headers, body)
        known = path in self._gets or path in self._posts
        return (
            (405, "text/plain", b"method not allowed\n")
            if known
            else (404, "text/plain", b"not found\n")
        )


def _response(status: int, ctype: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: {ctype}\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


def _probe(check: Probe) -> Answer:
    ok, detail = check()
    return (200 if ok else 503), "text/plain", (detail + "\n").encode()
