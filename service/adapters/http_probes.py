"""One small HTTP server for /metrics, /healthz and /readyz (asyncio streams, GET only).

Liveness never checks Kafka or the IO API (an outage must not restart every pod at once;
kafka-pitfalls.md): it fails only when one of our own loops stopped beating. Readiness waits for
assigned partitions to be restored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Probe = Callable[[], tuple[bool, str]]


class ProbeServer:
    def __init__(self, registry: CollectorRegistry, live: Probe, ready: Probe) -> None:
        self._registry = registry
        self._routes: dict[str, Callable[[], tuple[int, str, bytes]]] = {
            "/metrics": self._metrics,
            "/healthz": lambda: _probe(live),
            "/readyz": lambda: _probe(ready),
        }
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._handle, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _metrics(self) -> tuple[int, str, bytes]:
        return 200, CONTENT_TYPE_LATEST, generate_latest(self._registry)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, path = [*request.split(b" ", 2), b"", b""][:2]
            route = self._routes.get(path.decode("latin-1").split("?")[0])
            if method != b"GET" or route is None:
                status, ctype, body = 404, "text/plain", b"not found\n"
            else:
                status, ctype, body = route()
            head = (
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'ERR'}\r\nContent-Type: {ctype}\r\n"
            )
            head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
        ):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def _probe(check: Probe) -> tuple[int, str, bytes]:
    ok, detail = check()
    return (200 if ok else 503), "text/plain", (detail + "\n").encode()
