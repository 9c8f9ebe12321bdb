"""Wire models: outbound frozen and strict, inbound tolerant (contract §7)."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import SecretStr, ValidationError

from schemas.io_api import (
    JobState,
    JobStatus,
    PredictionParameters,
    ResultsResponse,
    StartTrainerRequest,
    TokenResponse,
    TrainerParameters,
    Transaction,
    Webhook,
)

PREDICTION_ITEM = {
    "datasetId": "d1",
    "currentInventoryLevel": 5.0,
    "wantedServiceLevel": 0.9,
    "supplier": {"supplierId": "s", "leadTime": {"value": 1, "granularity": "W"}},
}


def test_an_unknown_status_and_unknown_fields_are_kept_or_ignored() -> None:
    """``status`` "paused" is kept verbatim, an extra field is ignored, messages may be missing."""
    status = JobStatus.model_validate_json(
        '{"status": "paused", "datasetsStatus": [{"datasetId": "d", "status": "queued"}],'
        ' "eta": 12}'
    )
    assert status.status == "paused"
    assert not status.is_terminal
    assert status.message is None
    assert status.datasets_status[0].message is None


def test_known_end_states_are_terminal() -> None:
    """success, failed and invalid end a job; inProgress does not."""
    for state in (JobState.SUCCESS, JobState.FAILED, JobState.INVALID):
        assert JobStatus(status=state.value).is_terminal
    assert not JobStatus(status="inProgress").is_terminal


def test_results_without_message_parse() -> None:
    """The results body's message is optional (contract §3.6)."""
    assert ResultsResponse.model_validate({"results": []}).message is None


def test_both_spellings_of_time_to_next_order_are_accepted_and_one_is_emitted() -> None:
    """timeToNextOrder and replenishmentInterval validate; the wire form says the latter."""
    period = {"value": 2, "granularity": "W"}
    old = PredictionParameters.model_validate(PREDICTION_ITEM | {"replenishmentInterval": period})
    new = PredictionParameters.model_validate(PREDICTION_ITEM | {"timeToNextOrder": period})
    assert old == new
    assert "replenishmentInterval" in new.model_dump(mode="json")


def test_granularity_is_accepted_for_frequency_and_frequency_is_emitted() -> None:
    """The announced rename validates; the documented name goes on the wire."""
    item = TrainerParameters.model_validate({"datasetId": "d", "granularity": "M", "horizon": 3})
    assert item.model_dump(mode="json", exclude_none=True) == {
        "datasetId": "d",
        "frequency": "M",
        "horizon": 3,
    }


def test_outbound_models_are_strict_frozen_and_closed() -> None:
    """A numeric string, an unknown field and an assignment are all refused."""
    with pytest.raises(ValidationError):
        Transaction.model_validate(
            {"transactionId": "t", "departureDate": date(2025, 1, 1), "quantity": "3"}
        )
    with pytest.raises(ValidationError):
        TrainerParameters.model_validate(
            {"datasetId": "d", "frequency": "W", "horizon": 3, "extra": 1}
        )
    item = TrainerParameters(dataset_id="d", frequency="W", horizon=3)
    with pytest.raises(ValidationError):
        item.horizon = 4  # type: ignore[misc]


def test_outbound_constraints_follow_the_contract() -> None:
    """Horizon >= 1, frequency D/W/M only, at least one item in parametersArray."""
    with pytest.raises(ValidationError):
        TrainerParameters(dataset_id="d", frequency="W", horizon=0)
    with pytest.raises(ValidationError):
        TrainerParameters.model_validate({"datasetId": "d", "frequency": "Y", "horizon": 1})
    with pytest.raises(ValidationError):
        StartTrainerRequest(parameters_array=())


def test_the_webhook_key_is_masked_in_repr_and_sent_on_the_wire() -> None:
    """The key is a secret in Python and the plain value in the JSON body."""
    hook = Webhook(webhook_url="https://cb.test/h", webhook_api_key=SecretStr("hook-key-1"))
    assert "hook-key-1" not in repr(hook)
    assert "hook-key-1" not in str(hook.model_dump())
    assert hook.model_dump(mode="json")["webhookApiKey"] == "hook-key-1"


def test_the_access_token_is_masked() -> None:
    """A parsed token response never shows the token in its repr."""
    token = TokenResponse.model_validate({"access_token": "tok-secret", "expires_in": "60"})
    assert "tok-secret" not in repr(token)
    assert token.expires_in == 60.0


def test_lists_sent_as_null_read_as_empty() -> None:
    """``datasetsStatus: null`` and ``forecast: null`` are tolerated as empty lists."""
    status = JobStatus.model_validate({"status": "success", "datasetsStatus": None})
    assert status.datasets_status == ()
    suggestion = {"quantity": 1.0}
    result = ResultsResponse.model_validate(
        {
            "results": [
                {
                    "datasetId": "d",
                    "safetyStockSuggestion": suggestion,
                    "reorderPointSuggestion": suggestion,
                    "replenishmentSuggestion": suggestion,
                    "forecast": None,
                }
            ]
        }
    )
    assert result.results[0].forecast == ()
