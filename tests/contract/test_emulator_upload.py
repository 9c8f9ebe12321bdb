"""Contract: presigned URLs, the upload PUT and the validation job (contract §3.1–3.3)."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx

from tests.contract.emulator_flows import (
    IoSession,
    configure,
    daily_transactions,
    messages,
    statuses,
)

HEX32 = re.compile(r"[0-9a-f]{32}")


async def test_a_presigned_url_is_absolute_signed_and_names_a_32_hex_job(
    emulator_client: httpx.AsyncClient,
) -> None:
    """GET /presigned_url answers {url, jobId, message}; the URL carries expires and signature."""
    io = await IoSession.open(emulator_client)
    slot = await io.presign()
    url = urlsplit(slot["url"])
    assert url.scheme in ("http", "https")
    assert url.netloc
    assert {"expires", "signature"} <= set(parse_qs(url.query))
    assert HEX32.fullmatch(slot["jobId"])
    assert slot["message"]


async def test_an_upload_starts_a_validation_job_that_succeeds_per_dataset(
    emulator_client: httpx.AsyncClient,
) -> None:
    """The PUT (no auth header) starts the jobId's job; one datasetsStatus entry per dataset."""
    io = await IoSession.open(emulator_client)
    job = await io.upload({"a": daily_transactions(30), "b": daily_transactions(10)})
    status = await io.wait(job)
    assert status["status"] == "success"
    assert status["message"] == "The data upload job finished successfully"
    assert statuses(status) == {"a": "success", "b": "success"}


async def test_a_job_is_unknown_until_its_upload_arrives(
    emulator_client: httpx.AsyncClient,
) -> None:
    """/status of a presigned-but-not-uploaded jobId is 404."""
    io = await IoSession.open(emulator_client)
    slot = await io.presign()
    response = await io.get("/status", slot["jobId"])
    assert response.status_code == 404
    assert response.json()["error"] == "job_not_found"


async def test_an_invalid_dataset_is_rejected_alone_with_its_reason(
    emulator_client: httpx.AsyncClient,
) -> None:
    """Bad date, bad quantity, no transactions: each such dataset invalid; the good one stored."""
    io = await IoSession.open(emulator_client)
    bad_date = [{"transactionId": "x", "departureDate": "2024-02-30", "quantity": 1}]
    negative = [{"transactionId": "x", "departureDate": "2024-02-03", "quantity": -2}]
    text_qty = [{"transactionId": "x", "departureDate": "2024-02-03", "quantity": "7"}]
    job = await io.upload(
        {
            "good": daily_transactions(5),
            "date": bad_date,
            "neg": negative,
            "txt": text_qty,
            "empty": [],
        }
    )
    status = await io.wait(job)
    assert status["status"] == "invalid"
    assert statuses(status) == {
        "good": "success",
        "date": "invalid",
        "neg": "invalid",
        "txt": "invalid",
        "empty": "invalid",
    }
    why = messages(status)
    assert "departureDate" in why["date"]
    assert "quantity" in why["neg"]
    assert "quantity" in why["txt"]
    assert "empty" in why["empty"]
    listed = (await io.get("/data")).json()["datasets"]
    assert [d["datasetId"] for d in listed] == ["good"]


async def test_reuploading_the_same_transactions_changes_nothing(
    emulator_client: httpx.AsyncClient,
) -> None:
    """Merge by transactionId: a second upload of the same rows replaces them, adds none."""
    io = await IoSession.open(emulator_client)
    rows = daily_transactions(20)
    await io.stored({"a": rows})
    second = await io.wait(await io.upload({"a": rows + daily_transactions(2, prefix="new")}))
    assert "2 new, 20 replaced" in messages(second)["a"]
    listed = (await io.get("/data")).json()["datasets"]
    assert listed[0]["transactions"] == 22


async def test_a_tampered_or_expired_presigned_url_is_403(
    emulator_client: httpx.AsyncClient,
) -> None:
    """Changing the signed expiry, or PUTting after it, answers 403 with {error, message}."""
    io = await IoSession.open(emulator_client)
    slot = await io.presign()
    url = urlsplit(slot["url"])
    query = parse_qs(url.query)
    tampered = f"expires={int(query['expires'][0]) + 60}&signature={query['signature'][0]}"
    body = json.dumps({"datasets": [{"datasetId": "a", "transactions": daily_transactions(3)}]})
    response = await emulator_client.put(urlunsplit(url._replace(query=tampered)), content=body)
    assert response.status_code == 403
    assert response.json()["error"] == "signature_mismatch"
    await configure(emulator_client, presign_ttl_seconds=0)
    expired = await io.presign()
    response = await emulator_client.put(expired["url"], content=body)
    assert response.status_code == 403
    assert response.json()["error"] == "url_expired"


async def test_a_retried_put_is_harmless_and_a_different_body_is_409(
    emulator_client: httpx.AsyncClient,
) -> None:
    """The same body PUT twice is 200 both times; another body on a used URL is 409."""
    io = await IoSession.open(emulator_client)
    slot = await io.presign()
    body = json.dumps({"datasets": [{"datasetId": "a", "transactions": daily_transactions(3)}]})
    first = await emulator_client.put(slot["url"], content=body)
    again = await emulator_client.put(slot["url"], content=body)
    other = await emulator_client.put(slot["url"], content=body.replace('"a"', '"b"'))
    assert (first.status_code, again.status_code, other.status_code) == (200, 200, 409)


async def test_an_upload_body_that_cannot_be_split_by_dataset_is_400(
    emulator_client: httpx.AsyncClient,
) -> None:
    """Not JSON, no datasets array, or a dataset without datasetId: 400 at the PUT."""
    io = await IoSession.open(emulator_client)
    for body in (b"not json", b"{}", b'{"datasets": []}', b'{"datasets": [{"transactions": []}]}'):
        slot = await io.presign()
        response = await emulator_client.put(slot["url"], content=body)
        assert response.status_code == 400, body
        assert set(response.json()) == {"error", "message"}


async def test_an_unknown_presigned_type_is_400(emulator_client: httpx.AsyncClient) -> None:
    """type must be raw_data or prediction."""
    io = await IoSession.open(emulator_client)
    response = await io.get("/presigned_url", params={"type": "everything"})
    assert response.status_code == 400


async def test_a_prediction_upload_stores_data_and_predicts_with_the_trained_model(
    emulator_client: httpx.AsyncClient,
) -> None:
    """type=prediction: the PUT body's parametersArray drives a prediction job read via /results."""
    io = await IoSession.open(emulator_client)
    await io.stored({"a": daily_transactions(60)})
    assert (await io.trained("a"))["status"] == "success"
    slot = await io.presign("prediction")
    body = {
        "datasets": [{"datasetId": "a", "transactions": daily_transactions(2, prefix="late")}],
        "parametersArray": [{"datasetId": "a", "currentInventoryLevel": 5}],
    }
    assert (await emulator_client.put(slot["url"], content=json.dumps(body))).status_code == 200
    assert (await io.wait(slot["jobId"]))["status"] == "success"
    results = (await io.get("/results", slot["jobId"])).json()["results"]
    assert [r["datasetId"] for r in results] == ["a"]
