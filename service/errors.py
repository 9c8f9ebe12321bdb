"""Every error io-bridge raises on purpose, in one tree.

Each class carries ``retriable``: True when repeating the same operation later may succeed
(the caller decides when), False when it will fail the same way until something changes
(configuration, request, the API's data). Callers branch on the flag, not on the class.
Only ``service.adapters.io_api*`` catches ``httpx`` exceptions; it translates them into this tree.

::

    class                                  retriable  meaning
    IoBridgeError                          no
    ├── ConfigurationError                 no         settings contradict the environment
    └── IoApiError                         no         a call to the IO API failed
        ├── IoApiUnavailableError          yes        connection error, timeout or 5xx
        │                                             outlasted the retry budget
        ├── IoApiRateLimitedError          yes        still 429 after the retry budget
        ├── IoApiAuthError                 no         credentials refused; 401/403 again
        │                                             after a token refresh
        ├── IoApiRejectedError             no         the API refused the request (4xx)
        │   ├── IoApiNotFoundError         no         404, and not a job created moments ago
        │   └── PresignedUrlRejectedError  no         the storage refused the PUT: get a new URL
        └── IoApiBadResponseError          no         a 2xx body that is not JSON or not the
                                                      documented shape

Messages carry the operation, the HTTP status and the API's own ``error``/``message`` text, never
a token, a client secret or a presigned URL's query string.
"""

from __future__ import annotations


class IoBridgeError(Exception):
    """Base of every error io-bridge raises on purpose."""

    retriable: bool = False


class ConfigurationError(IoBridgeError):
    """The settings contradict the environment (a missing topic, a partition mismatch, ...)."""


class IoApiError(IoBridgeError):
    """A call to the IO API failed; ``operation`` names the call, ``status_code`` the answer."""

    def __init__(self, operation: str, detail: str, status_code: int | None = None) -> None:
        self.operation = operation
        self.status_code = status_code
        self.detail = detail
        status = f" (HTTP {status_code})" if status_code is not None else ""
        super().__init__(f"IO API {operation}{status}: {detail}")


class IoApiUnavailableError(IoApiError):
    """Connection errors, timeouts or 5xx answers lasted longer than the retry budget."""

    retriable = True


class IoApiRateLimitedError(IoApiError):
    """The API kept answering 429 through the retry budget; ``retry_after`` is its last hint."""

    retriable = True

    def __init__(
        self, operation: str, detail: str, status_code: int = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(operation, detail, status_code)
        self.retry_after = retry_after


class IoApiAuthError(IoApiError):
    """The token endpoint refused our credentials, or the API refused a freshly issued token."""


class IoApiRejectedError(IoApiError):
    """The API refused the request itself (400, 409, 422, ...): sending it again will not help."""


class IoApiNotFoundError(IoApiRejectedError):
    """404: unknown job or dataset, and not a job created moments ago by this client."""


class PresignedUrlRejectedError(IoApiRejectedError):
    """The presigned PUT was refused (expired after 60 minutes, or a bad signature)."""


class IoApiBadResponseError(IoApiError):
    """A success status whose body is not JSON or not the shape the contract documents."""
