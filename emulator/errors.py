"""The one error type of the emulator's HTTP surface.

Every non-2xx answer the emulator gives on purpose is an :class:`ApiError`, rendered as
``{"error": <code>, "message": <sentence>}`` (contract §4.7). Anything else that escapes a
handler is a bug and becomes a 500 with ``error = "internal_error"``.
"""

from __future__ import annotations

from collections.abc import Mapping


class ApiError(Exception):
    """An HTTP error answer: status code, machine-readable code, human message, extra headers."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status = status
        self.error = error
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        """The JSON body: ``{"error": ..., "message": ...}``."""
        return {"error": self.error, "message": self.message}


def bad_request(message: str, error: str = "invalid_request") -> ApiError:
    """A 400 for input that breaks the documented schema."""
    return ApiError(400, error, message)


def not_found(message: str, error: str = "not_found") -> ApiError:
    """A 404 for an unknown job, dataset or route (tenant isolation answers 404 too)."""
    return ApiError(404, error, message)
