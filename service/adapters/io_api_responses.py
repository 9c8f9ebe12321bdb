"""Reading IO API answers: body → model, error body → short safe text, URL → loggable form."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ValidationError

from schemas.io_api import ErrorBody
from service.errors import IoApiBadResponseError

ModelT = TypeVar("ModelT", bound=BaseModel)

RETRY_AFTER_CAP_SECONDS = 300.0  # a broken or hostile header must not park the client for hours

_DETAIL_LIMIT = 200


def parse_body(model: type[ModelT], response: httpx.Response, operation: str) -> ModelT:
    """The body as ``model``; raises IoApiBadResponseError (not retriable) when it is not.

    The message names the fields that failed but never echoes their values: a token response
    of the wrong shape must not put the token into an exception.
    """
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise IoApiBadResponseError(
            operation, _describe(model, exc, response), response.status_code
        ) from None


def _describe(model: type[BaseModel], exc: ValidationError, response: httpx.Response) -> str:
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    if any(error["type"] == "json_invalid" for error in errors):
        content_type = response.headers.get("content-type", "none")
        return f"body is not JSON ({len(response.content)} bytes, content-type {content_type})"
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '<body>'}: {error['msg']}"
        for error in errors[:3]
    )
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"body is not a {model.__name__}: {problems}{more}"


def error_detail(response: httpx.Response) -> str:
    """The API's ``error``/``message`` of a refused call, shortened; a placeholder otherwise."""
    try:
        body = ErrorBody.model_validate_json(response.content)
    except ValidationError:
        return "no error body"
    text = ": ".join(part for part in (body.error, body.message) if part)
    if not text:
        return "no error body"
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def status_class(status_code: int) -> str:
    """The observer's status class: ``429`` on its own, otherwise ``2xx``, ``4xx``, ``5xx``."""
    return "429" if status_code == 429 else f"{status_code // 100}xx"


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - now()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS)


def redact_url(url: str) -> str:
    """``url`` without query string, fragment or user info: safe to log (presigned URLs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class RedactUrlQueries(logging.Filter):
    """Strips query strings from the URLs in httpx's own ``HTTP Request: ...`` INFO records.

    httpx logs every request URL in full; for a presigned PUT the query string is the
    signature, so it must not reach any handler, whatever the logging configuration says.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's URL arguments in place; never drop the record."""
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


def redact_httpx_logs() -> None:
    """Install :class:`RedactUrlQueries` on the ``httpx`` logger (once per process)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(existing, RedactUrlQueries) for existing in logger.filters):
        logger.addFilter(RedactUrlQueries())
