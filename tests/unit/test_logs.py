"""Log redaction: secrets are masked by key and by shape, and the JSON renderer sees only masks."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog

from service.logs import MASK, configure_logging, redact, redact_text

SIGNED = "https://bucket.s3.amazonaws.com/up/42?X-Amz-Signature=abc123&X-Amz-Expires=900"


def redacted(**event: Any) -> MutableMapping[str, Any]:
    return redact(None, "info", dict(event))


@pytest.mark.parametrize(
    "key",
    [
        "client_secret",
        "password",
        "sasl_password",
        "access_token",
        "Authorization",
        "api_key",
        "API-KEY",
        "x_signature",
    ],
)
def test_a_value_under_a_secret_looking_key_is_masked(key: str) -> None:
    """Keys naming secrets, tokens, passwords, keys or signatures lose their value."""
    assert redacted(**{key: "hunter2"}) == {key: MASK}


def test_an_empty_secret_stays_visibly_empty() -> None:
    """A missing secret is logged as missing (None, ""), which helps debugging and leaks nothing."""
    assert redacted(client_secret=None, token="") == {"client_secret": None, "token": ""}


def test_ordinary_keys_and_non_string_values_pass_unchanged() -> None:
    """Ids, counts and flags are not touched."""
    event = {"event": "run_transition", "tenant": "t-1", "datasets": 3, "ok": True, "ms": 1.5}
    assert redacted(**event) == event


def test_secret_keys_inside_nested_mappings_are_masked() -> None:
    """Headers or config dicts logged whole keep their shape but not their secrets."""
    event = redacted(request={"headers": {"Authorization": "Bearer abc", "Accept": "json"}})
    assert event == {"request": {"headers": {"Authorization": MASK, "Accept": "json"}}}


def test_a_url_loses_its_query_string_wherever_it_appears() -> None:
    """Presigned URLs carry their signature in the query: the query is masked, the path kept."""
    expected = f"https://bucket.s3.amazonaws.com/up/42?{MASK}"
    event = redacted(url=SIGNED, message=f"PUT {SIGNED} failed", urls=[SIGNED, "x"])
    assert event == {
        "url": expected,
        "message": f"PUT {expected} failed",
        "urls": [expected, "x"],
    }


def test_a_url_without_a_query_is_kept_whole() -> None:
    """Base URLs stay readable: they are how operators find the endpoint."""
    url = "https://api.machine-learning-factory.visma.com/io/status"
    assert redact_text(f"GET {url} answered 503") == f"GET {url} answered 503"


def test_a_quoted_url_is_masked_up_to_the_quote() -> None:
    """A URL inside a repr keeps the closing quote, so the rest of the text stays intact."""
    text = f"Request('PUT', '{SIGNED}') timed out"
    expected = f"Request('PUT', 'https://bucket.s3.amazonaws.com/up/42?{MASK}') timed out"
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sent Authorization: Bearer ioe.eyJjaWQi.9f8e7d", f"sent Authorization: Bearer {MASK}"),
        ("header bearer abc-DEF_123~+/= then more", f"header Bearer {MASK} then more"),
        ("BEARER a.b.c", f"Bearer {MASK}"),
    ],
)
def test_a_bearer_token_in_free_text_is_masked(text: str, expected: str) -> None:
    """Bearer tokens in messages or exception texts are masked whatever the case of 'Bearer'."""
    assert redact_text(text) == expected


def test_an_exception_text_with_a_token_is_masked() -> None:
    """format_exc_info runs before redaction, so tracebacks are scrubbed too."""
    event = redacted(exception="Traceback ...\nIoApiError: 403 for Bearer abc.def.ghi")
    assert event == {"exception": f"Traceback ...\nIoApiError: 403 for Bearer {MASK}"}


@pytest.fixture
def json_logging() -> Iterator[None]:
    """configure_logging("json") for one test; structlog and stdlib logging restored after."""
    root = logging.getLogger()
    handlers, level, config = list(root.handlers), root.level, structlog.get_config()
    configure_logging("json", "info")
    try:
        yield
    finally:
        structlog.configure(**config)
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.usefixtures("json_logging")
def test_json_lines_are_rendered_after_redaction(capsys: pytest.CaptureFixture[str]) -> None:
    """The configured chain writes one JSON object per line with level, time and masks only."""
    log = structlog.get_logger("test_logs")  # a logger of its own: caching stays in this test
    log.info("token_fetched", access_token="ioe.abc.def", url=SIGNED, tenant="t-1")
    log.debug("hidden", secret="never")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["event"] == "token_fetched"
    assert event["level"] == "info"
    assert event["timestamp"].endswith("Z")
    assert event["access_token"] == MASK
    assert event["url"] == f"https://bucket.s3.amazonaws.com/up/42?{MASK}"
    assert "abc" not in lines[0]
