"""Settings whose defaults depend on other settings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from service.bootstrap import poll_policy
from service.config import Settings


def with_webhooks(
    poll_max_seconds: float = 10.0, poll_first_seconds: float | None = None
) -> Settings:
    return Settings(
        webhook_public_url="https://io-bridge.test/webhooks/io",
        webhook_api_key=SecretStr("k" * 32),
        poll_max_seconds=poll_max_seconds,
        poll_first_seconds=poll_first_seconds,
    )


def test_the_first_poll_waits_half_a_second_without_webhooks() -> None:
    """Polling is the only way to learn a job ended: ask early, then back off."""
    assert poll_policy(Settings(poll_max_seconds=8)).first_seconds == 0.5


def test_with_webhooks_the_first_poll_is_a_fallback_at_the_cap() -> None:
    """The callback ends the wait; an early poll would only spend a call."""
    assert poll_policy(with_webhooks(poll_max_seconds=8)).first_seconds == 8


def test_an_explicit_first_poll_wins_either_way() -> None:
    """IOB_POLL_FIRST_SECONDS set by the operator is used as given."""
    assert poll_policy(with_webhooks(poll_first_seconds=2)).first_seconds == 2
    assert poll_policy(Settings(poll_first_seconds=2)).first_seconds == 2


def test_a_first_poll_of_zero_is_refused() -> None:
    """A zero interval would poll in a tight loop."""
    with pytest.raises(ValidationError, match="poll_first_seconds"):
        Settings(poll_first_seconds=0)
