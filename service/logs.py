"""structlog configured in one place: JSON lines in production, console on a TTY, redacted.

The redaction processor is the last line of defence behind SecretStr: any value under a
secret-looking key, and any presigned-URL signature or bearer token inside a string, is masked
before rendering.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

SECRET_KEYS = re.compile(r"secret|password|token|authorization|api[_-]?key|signature", re.I)
# A URL's query string may be a signature (presigned URLs); bearer tokens in free text.
_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")
_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+")
MASK = "***"


def redact_text(text: str) -> str:
    return _BEARER.sub("Bearer " + MASK, _QUERY.sub(r"\1?" + MASK, text))


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: MASK if SECRET_KEYS.search(str(k)) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secrets by key and by shape."""
    for key in list(event_dict):
        value = event_dict[key]
        event_dict[key] = MASK if SECRET_KEYS.search(key) and value else _redact(value)
    return event_dict


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog (and stdlib logging from libraries) once, at start-up.

    ``stream`` (default stdout) receives both. Given a stream, configuring again replaces the
    previous set-up (the benchmarks switch log files between runs of the service).
    """
    out = stream or sys.stdout
    json_lines = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=stream is None,
    )
    logging.basicConfig(
        level=logging.WARNING,
        stream=out,
        format="%(name)s %(levelname)s %(message)s",
        force=stream is not None,
    )
