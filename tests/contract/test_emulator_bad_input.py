"""Property: any body, header or query gets an answer below 500 — 4xx with {error, message}.

Hypothesis throws arbitrary JSON, near-miss bodies, raw bytes and odd header values at the
upload PUT, the job starts, the token endpoint and the lookups of an in-process emulator
(issue "Bad input"). Accepted uploads and jobs must also finish without an internal error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from emulator import EmulatorApp, EmulatorConfig
from tests.contract.emulator_flows import CLIENT
from tests.emulator_fixtures import IN_PROCESS_URL

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REQUEST_TIMEOUT = 10.0

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
dates = st.dates(min_value=dt.date(2023, 1, 1), max_value=dt.date(2024, 7, 2)).map(str)


def near(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a valid value, sometimes anything: bodies that get past the first check."""
    return st.integers(0, 9).flatmap(lambda k: json_values if k == 9 else valid)


transaction = st.fixed_dictionaries(
    {
        "transactionId": near(st.text(min_size=1, max_size=6)),
        "departureDate": near(dates | st.text(max_size=12)),
        "quantity": near(st.integers(0, 50) | st.floats(-1, 1e13)),
    },
    optional={
        "unitPrice": near(st.floats(0, 100) | st.none()),
        "unitCost": near(st.floats(0, 100)),
    },
)
dataset = st.fixed_dictionaries(
    {
        "datasetId": near(st.sampled_from(["a", "b", "c"])),
        "transactions": near(st.lists(transaction, max_size=8)),
    }
)
duration = st.fixed_dictionaries(
    {"value": near(st.integers(0, 30)), "granularity": near(st.sampled_from("DWMx"))}
)
job_item = st.fixed_dictionaries(
    {
        "datasetId": near(st.sampled_from(["a", "b", "c"])),
        "frequency": near(st.sampled_from(["D", "W", "M", "d", "Y"])),
        "horizon": near(st.integers(1, 30) | st.integers(-1, 600)),
    },
    optional={
        "granularity": near(st.sampled_from(["D", "W"])),
        "startDate": near(dates),
        "endDate": near(dates),
        "currentInventoryLevel": near(st.floats(-10, 1e6)),
        "wantedServiceLevel": near(st.floats(0, 1)),
        "replenishmentInterval": near(duration),
        "timeToNextOrder": near(duration),
        "supplier": st.fixed_dictionaries(
            {}, optional={"supplierId": near(st.text(max_size=5)), "leadTime": near(duration)}
        ),
        "forecast": near(
            st.lists(
                st.fixed_dictionaries(
                    {"date": near(dates), "predictedQuantity": near(st.floats(0, 100))}
                ),
                max_size=4,
            )
        ),
    },
)
webhook = st.fixed_dictionaries(
    {"webhookUrl": near(st.just("http://127.0.0.1:9/hook")), "webhookApiKey": near(st.text())}
)
upload_bodies = st.fixed_dictionaries(
    {"datasets": near(st.lists(dataset, max_size=3))},
    optional={"webhook": near(webhook), "parametersArray": near(st.lists(job_item, max_size=2))},
)
job_bodies = near(
    st.fixed_dictionaries(
        {
            "parametersArray": near(
                st.lists(
                    job_item, min_size=1, max_size=3, unique_by=lambda item: repr(item["datasetId"])
                )
            )
        },
        optional={"webhook": near(webhook)},
    )
    | st.lists(job_item, min_size=1, max_size=3, unique_by=lambda item: repr(item["datasetId"]))
)
classify_bodies = st.fixed_dictionaries(
    {
        "datasetIds": near(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3)),
        "abcDriver": near(st.sampled_from(["revenue", "quantity", "margin", "REVENUE", "x"])),
    },
    optional={
        "startDate": near(dates),
        "endDate": near(dates),
        "dateRange": near(st.fixed_dictionaries({"startDate": dates, "endDate": dates})),
        "webhook": near(webhook),
    },
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=300)


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """Instant jobs, today pinned, training from little history."""
    return EmulatorConfig(job_seconds=0, today=dt.date(2024, 7, 3), min_history_periods=2)


@pytest.fixture
async def client(emulator_app: EmulatorApp) -> Any:
    """An in-process client with a token and tenant header, and 'a' stored and trained."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emulator_app), base_url=IN_PROCESS_URL
    ) as plain:
        form = {"grant_type": "client_credentials", **CLIENT}
        access = (await plain.post("/connect/token", data=form)).json()["access_token"]
        plain.headers.update({"Authorization": f"Bearer {access}", "tenantId": "t"})
        await store_and_train(plain, emulator_app)
        yield plain


async def store_and_train(client: httpx.AsyncClient, app: EmulatorApp) -> None:
    """Dataset 'a' (60 days) stored and trained, so predictions get past "no model"."""
    rows = [
        {
            "transactionId": str(i),
            "departureDate": str(dt.date(2024, 5, 1) + dt.timedelta(i)),
            "quantity": i % 5,
            "unitPrice": 2.0,
            "unitCost": 1.0,
        }
        for i in range(60)
    ]
    slot = (await client.get("/io/presigned_url")).json()
    await client.put(
        slot["url"], content=encode({"datasets": [{"datasetId": "a", "transactions": rows}]})
    )
    await settle(app)
    await client.post(
        "/io/start_trainer", json=[{"datasetId": "a", "frequency": "D", "horizon": 7}]
    )
    await settle(app)
    assert "a" in app.emulator.engine.store.models["t"]


async def answered(request: Any) -> httpx.Response:
    """The response, which must come within the timeout, below 500, with a proper error body."""
    response: httpx.Response = await asyncio.wait_for(request, REQUEST_TIMEOUT)
    assert response.status_code < 500, response.text
    event(f"HTTP {response.status_code}")  # --hypothesis-show-statistics shows the mix
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("error"), str), body
        assert isinstance(body.get("message"), str), body
    return response


def no_internal_errors(app: EmulatorApp) -> None:
    """No job reported an internal error for any dataset."""
    for job in app.emulator.engine.jobs.values():
        for outcome in job.outcomes.values():
            assert "internal error" not in outcome.message, (job.kind, outcome)


async def settle(app: EmulatorApp) -> None:
    """Wait until every job has finished (none may hang: no hang knob is set)."""
    for _ in range(500):
        if all(job.finished_at is not None for job in app.emulator.engine.jobs.values()):
            return
        await asyncio.sleep(0.01)
    pytest.fail("a job never finished")


def encode(value: Any) -> bytes:
    """JSON text of any generated value (NaN/Infinity included, as Python's json writes them)."""
    return json.dumps(value).encode()


@SETTINGS
@given(body=near(upload_bodies), kind=st.sampled_from(["raw_data", "prediction"]))
async def test_any_upload_body_is_accepted_or_rejected_with_4xx(
    client: httpx.AsyncClient, emulator_app: EmulatorApp, body: Any, kind: str
) -> None:
    """The presigned PUT answers 200 or 4xx for any JSON; accepted uploads finish cleanly."""
    slot = (await client.get("/io/presigned_url", params={"type": kind})).json()
    await answered(client.put(slot["url"], content=encode(body), headers={"Authorization": ""}))
    await settle(emulator_app)
    no_internal_errors(emulator_app)


@SETTINGS
@given(raw=st.binary(max_size=200))
async def test_any_bytes_as_an_upload_body_are_handled(
    client: httpx.AsyncClient, raw: bytes
) -> None:
    """Non-JSON (or any bytes) at the PUT: a 4xx, never a 500."""
    slot = (await client.get("/io/presigned_url")).json()
    await answered(client.put(slot["url"], content=raw))


@SETTINGS
@given(
    path=st.sampled_from(
        ["/io/start_trainer", "/io/create_prediction", "/io/real_time_prediction"]
    ),
    body=job_bodies,
)
async def test_any_job_request_gets_2xx_or_4xx(
    client: httpx.AsyncClient, emulator_app: EmulatorApp, path: str, body: Any
) -> None:
    """Training, prediction and real-time bodies: 200/202 or 4xx; jobs finish cleanly."""
    await answered(
        client.post(path, content=encode(body), headers={"Content-Type": "application/json"})
    )
    await settle(emulator_app)
    no_internal_errors(emulator_app)


@SETTINGS
@given(body=near(classify_bodies))
async def test_any_classification_request_gets_2xx_or_4xx(
    client: httpx.AsyncClient, emulator_app: EmulatorApp, body: Any
) -> None:
    """Classification bodies: 202 or 4xx; jobs finish cleanly."""
    await answered(client.post("/io/start_inventory_classification", content=encode(body)))
    await settle(emulator_app)
    no_internal_errors(emulator_app)


@SETTINGS
@given(
    tenant=header_values,
    job_id=header_values,
    query=st.dictionaries(
        st.sampled_from(["type", "fromDate", "toDate", "x"]), header_values, max_size=3
    ),
    path=st.sampled_from(
        [
            "/io/status",
            "/io/results",
            "/io/inventory_classification_results",
            "/io/presigned_url",
            "/io/data",
            "/io/data/a",
        ]
    ),
)
async def test_any_header_or_query_gets_an_answer_below_500(
    client: httpx.AsyncClient, tenant: str, job_id: str, query: dict[str, str], path: str
) -> None:
    """Odd tenantId/jobId headers and query strings on the lookups: never a 500."""
    method = "DELETE" if path == "/io/data/a" else "GET"
    headers = {"tenantId": tenant, "jobId": job_id}
    await answered(client.request(method, path, headers=headers, params=query))


@SETTINGS
@given(
    form=st.fixed_dictionaries(
        {"grant_type": near(st.just("client_credentials"))},
        optional={
            "client_id": near(st.just(CLIENT["client_id"])),
            "client_secret": near(st.just(CLIENT["client_secret"])),
            "scope": st.text(max_size=30),
        },
    ).map(lambda form: {k: str(v) for k, v in form.items()}),
    raw=st.binary(max_size=50),
)
async def test_any_token_request_gets_an_answer_below_500(
    client: httpx.AsyncClient, form: dict[str, str], raw: bytes
) -> None:
    """Random forms and bytes at the token endpoint: 200 or 4xx."""
    await answered(client.post("/connect/token", data=form))
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    await answered(client.post("/connect/token", content=raw, headers=form_type))
