"""Contract: training, prediction, results, classification, deletion (contract §3.4–3.10, §4)."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from tests.contract.emulator_flows import (
    IoSession,
    daily_transactions,
    messages,
    predict_item,
    statuses,
    train_item,
)

SUGGESTION_KEYS = {"quantity", "validDateInterval"}
FORECAST_KEYS = {
    "date",
    "predictedQuantity",
    "predictedSeason",
    "predictedTrend",
    "predictedNoise",
    "lowerQuantity",
    "upperQuantity",
}
RESULT_KEYS = {
    "datasetId",
    "supplierId",
    "safetyStockSuggestion",
    "reorderPointSuggestion",
    "replenishmentSuggestion",
    "forecast",
    "historicalData",
}


async def test_job_starts_answer_202_with_a_32_hex_job_id(
    emulator_client: httpx.AsyncClient,
) -> None:
    """start_trainer answers 202 {jobId, message} (contract §3.4)."""
    io = await IoSession.open(emulator_client)
    response = await io.post("/start_trainer", {"parametersArray": [train_item("a")]})
    assert response.status_code == 202
    assert re.fullmatch(r"[0-9a-f]{32}", response.json()["jobId"])
    assert response.json()["message"] == "Training job started successfully"


async def test_train_predict_and_fetch_results_in_the_documented_shape(
    emulator_client: httpx.AsyncClient,
) -> None:
    """The full lifecycle gives ResultObjects exactly as contract §4.4 lists them."""
    io = await IoSession.open(emulator_client)
    await io.stored({"a": daily_transactions(120), "b": daily_transactions(90, base=4)})
    trained = await io.trained("a", "b", horizon=14)
    assert trained["status"] == "success"
    assert trained["message"] == "The training job finished successfully"
    items = [predict_item("a"), predict_item("b")]
    job = await io.start("/create_prediction", {"parametersArray": items})
    done = await io.wait(job)
    assert done["message"] == "The prediction job finished successfully"
    results = (await io.get("/results", job)).json()["results"]
    assert [r["datasetId"] for r in results] == ["a", "b"]
    first = results[0]
    assert set(first) == RESULT_KEYS
    assert first["supplierId"] == "supplier-1"
    for key in ("safetyStockSuggestion", "reorderPointSuggestion", "replenishmentSuggestion"):
        assert set(first[key]) == SUGGESTION_KEYS
        assert set(first[key]["validDateInterval"]) == {"startDate", "endDate"}
    assert len(first["forecast"]) == 14
    assert all(set(step) == FORECAST_KEYS for step in first["forecast"])
    assert first["forecast"][0]["date"] == "2024-07-03"
    assert set(first["historicalData"][0]) == {"date", "quantity"}
    assert first["historicalData"][-1]["date"] == "2024-07-02"


async def test_a_failing_dataset_never_fails_the_others(emulator_client: httpx.AsyncClient) -> None:
    """Missing data and too little history fail their own datasets; the good one trains."""
    io = await IoSession.open(emulator_client)
    await io.stored({"good": daily_transactions(60), "short": daily_transactions(3)})
    status = await io.trained("good", "short", "missing")
    assert status["status"] == "failed"
    assert statuses(status) == {"good": "success", "short": "failed", "missing": "failed"}
    why = messages(status)
    assert "not enough history" in why["short"]
    assert "no data" in why["missing"]


async def test_prediction_needs_a_trained_model(emulator_client: httpx.AsyncClient) -> None:
    """An untrained dataset fails the prediction with a message saying so; results skip it."""
    io = await IoSession.open(emulator_client)
    await io.stored({"a": daily_transactions(60), "b": daily_transactions(60)})
    await io.trained("a")
    job = await io.start(
        "/create_prediction", {"parametersArray": [predict_item("a"), predict_item("b")]}
    )
    status = await io.wait(job)
    assert statuses(status) == {"a": "success", "b": "failed"}
    assert "trained model" in messages(status)["b"]
    results = (await io.get("/results", job)).json()["results"]
    assert [r["datasetId"] for r in results] == ["a"]


async def test_every_documented_spelling_is_accepted(emulator_client: httpx.AsyncClient) -> None:
    """granularity for frequency, a bare array, timeToNextOrder, older suppliers list."""
    io = await IoSession.open(emulator_client)
    await io.stored({"a": daily_transactions(60)})
    bare = [{"datasetId": "a", "granularity": "w", "horizon": 4}]
    assert (await io.run("/start_trainer", bare))["status"] == "success"
    item = {
        "datasetId": "a",
        "timeToNextOrder": {"value": 2, "granularity": "W"},
        "suppliers": [{"supplierId": "s9", "leadTime": {"value": 1, "granularity": "M"}}],
    }
    job = await io.start("/create_prediction", {"parametersArray": [item]})
    assert (await io.wait(job))["status"] == "success"
    result = (await io.get("/results", job)).json()["results"][0]
    assert result["supplierId"] == "s9"
    assert len(result["forecast"]) == 4
    assert result["forecast"][0]["date"] == "2024-07-01"  # the Monday of the current week


@pytest.mark.parametrize(
    "body",
    [
        {"parametersArray": [{"datasetId": "a", "frequency": "Y", "horizon": 3}]},
        {"parametersArray": [{"datasetId": "a", "frequency": "D", "horizon": 0}]},
        {"parametersArray": [{"datasetId": "a", "frequency": "M", "horizon": 19}]},
        {"parametersArray": [{"datasetId": "a", "frequency": "D", "horizon": "4"}]},
        {"parametersArray": []},
        {"parametersArray": [train_item("a"), train_item("a")]},
        {"nothing": True},
    ],
)
async def test_a_training_request_off_the_schema_is_400(
    emulator_client: httpx.AsyncClient, body: object
) -> None:
    """Bad enum, horizon out of range, wrong type, empty or duplicate items: 400."""
    io = await IoSession.open(emulator_client)
    response = await io.post("/start_trainer", body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_jobs_and_data_of_one_tenant_are_invisible_to_another(
    emulator_client: httpx.AsyncClient,
) -> None:
    """Another tenantId gets 404 for the job and trains as if the data did not exist."""
    io = await IoSession.open(emulator_client)
    job = await io.upload({"a": daily_transactions(60)})
    await io.wait(job)
    other = io.as_tenant("tenant-b")
    assert (await other.get("/status", job)).status_code == 404
    assert statuses(await other.trained("a")) == {"a": "failed"}
    assert (await other.client.delete("/io/data/a", headers=other.headers)).status_code == 404


async def test_an_unknown_job_is_404_and_results_of_a_running_job_are_409(
    emulator_client: httpx.AsyncClient,
) -> None:
    """/status of an unknown jobId is 404; /results before the job ends is 409."""
    io = await IoSession.open(emulator_client)
    assert (await io.get("/status", "0" * 32)).status_code == 404
    await emulator_client.patch("/_emulator/config", json={"job_seconds": 30})
    job = await io.start("/create_prediction", {"parametersArray": [predict_item("a")]})
    response = await io.get("/results", job)
    assert response.status_code == 409
    assert response.json()["error"] == "job_in_progress"


async def test_results_of_a_training_job_are_400(emulator_client: httpx.AsyncClient) -> None:
    """/results only serves prediction jobs."""
    io = await IoSession.open(emulator_client)
    job = await io.start("/start_trainer", {"parametersArray": [train_item("a")]})
    await io.wait(job)
    assert (await io.get("/results", job)).status_code == 400


async def test_classification_gives_one_result_per_priced_dataset(
    emulator_client: httpx.AsyncClient,
) -> None:
    """Revenue ABC needs prices: the unpriced dataset fails, the others get §4.6 items."""
    io = await IoSession.open(emulator_client)
    unpriced = [
        {k: v for k, v in row.items() if k != "unitPrice"} for row in daily_transactions(60)
    ]
    await io.stored(
        {"big": daily_transactions(60, base=50), "small": daily_transactions(60), "free": unpriced}
    )
    body = {"datasetIds": ["big", "small", "free"], "abcDriver": "revenue"}
    job = await io.start("/start_inventory_classification", body)
    status = await io.wait(job)
    assert statuses(status) == {"big": "success", "small": "success", "free": "failed"}
    assert "unitPrice" in messages(status)["free"]
    results = (await io.get("/inventory_classification_results", job)).json()["results"]
    by_id = {r["datasetId"]: r for r in results}
    assert set(by_id) == {"big", "small"}
    assert set(by_id["big"]) == {
        "datasetId",
        "abcCategory",
        "isSeasonal",
        "seasonalities",
        "demandType",
        "trend",
    }
    assert by_id["big"]["abcCategory"] == "A"
    assert by_id["big"]["isSeasonal"] is True
    assert by_id["big"]["seasonalities"] == ["weekly"]


async def test_delete_removes_a_dataset_or_a_date_range(emulator_client: httpx.AsyncClient) -> None:
    """DELETE /data/{id} answers 200 with the contract's message; then the dataset is gone."""
    io = await IoSession.open(emulator_client)
    await io.stored({"a": daily_transactions(60), "b": daily_transactions(60)})
    ranged = await emulator_client.delete(
        "/io/data/a", headers=io.headers, params={"fromDate": "2024-06-01", "toDate": "2024-06-30"}
    )
    assert ranged.status_code == 200
    assert "(1 month(s) of data)" in ranged.json()["message"]
    whole = await emulator_client.delete("/io/data/b", headers=io.headers)
    assert whole.json()["message"].startswith(
        "Data was deleted successfully. All data for Dataset ID b was deleted ("
    )
    again = await emulator_client.delete("/io/data/b", headers=io.headers)
    assert again.status_code == 404
    listed = (await io.get("/data")).json()["datasets"]
    assert [(d["datasetId"], d["transactions"]) for d in listed] == [("a", 30)]


async def test_a_webhook_gets_the_final_status_with_api_key_and_tenant(
    emulator_client: httpx.AsyncClient,
) -> None:
    """The callback POSTs {jobId, status, message, datasetsStatus} with x-api-key and tenantId."""
    io = await IoSession.open(emulator_client)
    await io.stored({"a": daily_transactions(60)})
    sink = f"{emulator_client.base_url}/_emulator/webhook_sink".replace("//_", "/_")
    hook = {"webhookUrl": sink, "webhookApiKey": "k-123"}
    job = await io.start("/start_trainer", {"parametersArray": [train_item("a")], "webhook": hook})
    await io.wait(job)
    received: list[dict[str, object]] = []
    for _ in range(100):
        received = (await emulator_client.get("/_emulator/webhook_sink")).json()["received"]
        if received:
            break
        await asyncio.sleep(0.02)
    assert len(received) == 1
    call = received[0]
    assert call["headers"] == {
        "x-api-key": "k-123",
        "tenantid": "tenant-a",
        "content-type": "application/json",
    }
    body = call["body"]
    assert isinstance(body, dict)
    assert body["jobId"] == job
    assert body["status"] == "success"
    assert body["datasetsStatus"][0]["datasetId"] == "a"


async def test_real_time_prediction_answers_synchronously(
    emulator_client: httpx.AsyncClient,
) -> None:
    """POST /real_time_prediction gives suggestions now, from an edited forecast or the model."""
    io = await IoSession.open(emulator_client)
    await io.stored({"a": daily_transactions(60), "b": daily_transactions(60)})
    await io.trained("a", "b")
    edited = predict_item("a") | {
        "forecast": [{"date": f"2024-07-{d:02d}", "predictedQuantity": 100.0} for d in range(3, 20)]
    }
    body = {"parametersArray": [edited, predict_item("b")]}
    response = await io.post("/real_time_prediction", body)
    assert response.status_code == 200
    edited_result, model_result = response.json()["results"]
    assert (
        edited_result["replenishmentSuggestion"]["quantity"]
        > model_result["replenishmentSuggestion"]["quantity"]
    )


async def test_po_suggestions_for_a_flat_series_match_a_hand_computation(
    emulator_client: httpx.AsyncClient,
) -> None:
    """10 a day, no error: order 1 W + lead 3 D = 10 days → need 100, ROP 30, order 100 − 20."""
    io = await IoSession.open(emulator_client)
    rows = daily_transactions(60)
    for row in rows:
        row["quantity"] = 10
    await io.stored({"flat": rows})
    await io.trained("flat")
    job = await io.start("/create_prediction", {"parametersArray": [predict_item("flat")]})
    await io.wait(job)
    result = (await io.get("/results", job)).json()["results"][0]
    interval = {"startDate": "2024-07-03", "endDate": "2024-07-12"}
    assert result["safetyStockSuggestion"] == {"quantity": 0.0, "validDateInterval": interval}
    assert result["reorderPointSuggestion"]["quantity"] == pytest.approx(30.0)
    assert result["replenishmentSuggestion"]["quantity"] == pytest.approx(80.0)
    assert {step["predictedQuantity"] for step in result["forecast"]} == {10.0}


async def test_the_same_inputs_give_the_same_results(emulator_client: httpx.AsyncClient) -> None:
    """Deterministic: predicting twice from the same model and data gives identical results."""
    io = await IoSession.open(emulator_client)
    await io.stored({"a": daily_transactions(90)})
    await io.trained("a")
    bodies = []
    for _ in range(2):
        job = await io.start("/create_prediction", {"parametersArray": [predict_item("a")]})
        await io.wait(job)
        bodies.append((await io.get("/results", job)).json()["results"])
    assert bodies[0] == bodies[1]
