"""Helpers the emulator contract tests share: sample data, a logged-in IO session, polling."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from typing import Any

import httpx

TODAY = dt.date(2024, 7, 3)  # a Wednesday; tests pin the emulator's "today" to it
CLIENT = {"client_id": "io-bridge-local", "client_secret": "io-bridge-local-secret"}
Json = dict[str, Any]


def daily_transactions(
    days: int = 120,
    end: dt.date = TODAY - dt.timedelta(days=1),
    base: float = 10.0,
    prefix: str = "t",
) -> list[Json]:
    """One transaction a day ending ``end``: a weekly pattern around ``base``, priced."""
    rows = []
    for i in range(days):
        day = end - dt.timedelta(days=days - 1 - i)
        quantity = base + 3 * math.sin(2 * math.pi * day.weekday() / 7)
        rows.append(
            {
                "transactionId": f"{prefix}{i}",
                "departureDate": day.isoformat(),
                "quantity": round(quantity, 2),
                "unitPrice": 20.0,
                "unitCost": 12.0,
            }
        )
    return rows


def train_item(dataset_id: str, frequency: str = "D", horizon: int = 14) -> Json:
    """A start_trainer item."""
    return {"datasetId": dataset_id, "frequency": frequency, "horizon": horizon}


def predict_item(dataset_id: str, inventory: float = 20.0) -> Json:
    """A create_prediction item in the [BP] shape."""
    return {
        "datasetId": dataset_id,
        "currentInventoryLevel": inventory,
        "wantedServiceLevel": 0.95,
        "replenishmentInterval": {"value": 1, "granularity": "W"},
        "supplier": {"supplierId": "supplier-1", "leadTime": {"value": 3, "granularity": "D"}},
    }


async def token(client: httpx.AsyncClient, **form: str) -> str:
    """A fresh access token from the emulator's token endpoint."""
    data = {"grant_type": "client_credentials", **CLIENT, "scope": "io"} | form
    response = await client.post("/connect/token", data=data)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def configure(client: httpx.AsyncClient, **knobs: Any) -> Json:
    """PATCH the emulator's knobs (admin API)."""
    response = await client.patch("/_emulator/config", json=knobs)
    assert response.status_code == 200, response.text
    result: Json = response.json()
    return result


class IoSession:
    """A client, a token and a tenant: the calls io-bridge makes, in their plainest form."""

    def __init__(self, client: httpx.AsyncClient, access_token: str, tenant: str) -> None:
        self.client = client
        self.tenant = tenant
        self.headers = {"Authorization": f"Bearer {access_token}", "tenantId": tenant}

    @classmethod
    async def open(cls, client: httpx.AsyncClient, tenant: str = "tenant-a") -> IoSession:
        """Log in and pin the emulator's date to :data:`TODAY`."""
        await configure(client, today=TODAY.isoformat())
        return cls(client, await token(client), tenant)

    def as_tenant(self, tenant: str) -> IoSession:
        """The same login acting for another tenant."""
        other = IoSession(self.client, "", tenant)
        other.headers = self.headers | {"tenantId": tenant}
        return other

    async def get(self, path: str, job_id: str | None = None, **kw: Any) -> httpx.Response:
        """GET an IO API path, optionally with a jobId header."""
        headers = self.headers | ({"jobId": job_id} if job_id else {})
        return await self.client.get(f"/io{path}", headers=headers, **kw)

    async def post(self, path: str, body: Any) -> httpx.Response:
        """POST a JSON body to an IO API path."""
        return await self.client.post(f"/io{path}", headers=self.headers, json=body)

    async def presign(self, kind: str | None = None) -> Json:
        """GET /presigned_url."""
        params = {"type": kind} if kind else None
        response = await self.get("/presigned_url", params=params)
        assert response.status_code == 200, response.text
        result: Json = response.json()
        return result

    async def upload(self, datasets: dict[str, list[Json]], **extra: Any) -> str:
        """Presign, PUT the datasets (no auth header), return the validation jobId."""
        slot = await self.presign()
        body = {"datasets": [{"datasetId": k, "transactions": v} for k, v in datasets.items()]}
        response = await self.client.put(slot["url"], content=json.dumps(body | extra))
        assert response.status_code == 200, response.text
        return str(slot["jobId"])

    async def start(self, path: str, body: Any) -> str:
        """POST a job start; asserts the 202 and returns the jobId."""
        response = await self.post(path, body)
        assert response.status_code == 202, response.text
        return str(response.json()["jobId"])

    async def wait(self, job_id: str, within: float = 20.0) -> Json:
        """Poll /status until the job leaves ``inProgress``."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            response = await self.get("/status", job_id)
            assert response.status_code == 200, response.text
            status: Json = response.json()
            if status["status"] != "inProgress":
                return status
            assert asyncio.get_running_loop().time() < deadline, f"job {job_id} still running"
            await asyncio.sleep(0.02)

    async def run(self, path: str, body: Any) -> Json:
        """Start a job and wait for it."""
        return await self.wait(await self.start(path, body))

    async def stored(self, datasets: dict[str, list[Json]]) -> None:
        """Upload and wait until the validation job succeeded."""
        status = await self.wait(await self.upload(datasets))
        assert status["status"] == "success", status

    async def trained(self, *dataset_ids: str, frequency: str = "D", horizon: int = 14) -> Json:
        """Train the datasets; returns the final status."""
        items = [train_item(d, frequency, horizon) for d in dataset_ids]
        return await self.run("/start_trainer", {"parametersArray": items})


def statuses(status: Json) -> dict[str, str]:
    """datasetId → status of a /status body."""
    return {entry["datasetId"]: entry["status"] for entry in status["datasetsStatus"]}


def messages(status: Json) -> dict[str, str]:
    """datasetId → message of a /status body."""
    return {entry["datasetId"]: entry["message"] for entry in status["datasetsStatus"]}
