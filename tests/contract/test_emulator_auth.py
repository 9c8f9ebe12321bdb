"""Contract: the token endpoint and bearer-token checks (contract §2, §6), both transports."""

from __future__ import annotations

import base64

import httpx

from tests.contract.emulator_flows import CLIENT, configure, token


async def test_the_token_endpoint_issues_a_bearer_token_for_the_default_client(
    emulator_client: httpx.AsyncClient,
) -> None:
    """client_credentials with the default id/secret gives access_token, expires_in, token_type."""
    form = {
        "grant_type": "client_credentials",
        **CLIENT,
        "scope": "machine-learning-factory-api-stage:io",
    }
    response = await emulator_client.post("/connect/token", data=form)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["access_token"], str)
    assert body["access_token"]


async def test_a_wrong_client_secret_is_401_invalid_client(
    emulator_client: httpx.AsyncClient,
) -> None:
    """Wrong credentials answer 401 with error invalid_client and a message."""
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT["client_id"],
        "client_secret": "nope",
    }
    response = await emulator_client.post("/connect/token", data=form)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["message"]


async def test_credentials_may_come_as_http_basic(emulator_client: httpx.AsyncClient) -> None:
    """RFC 6749 §2.3.1: client id and secret in an Authorization: Basic header work too."""
    basic = base64.b64encode(f"{CLIENT['client_id']}:{CLIENT['client_secret']}".encode()).decode()
    response = await emulator_client.post(
        "/connect/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200


async def test_another_grant_type_or_a_json_body_is_400(emulator_client: httpx.AsyncClient) -> None:
    """Only form-encoded client_credentials is accepted."""
    wrong_grant = await emulator_client.post(
        "/connect/token", data={"grant_type": "password", **CLIENT}
    )
    as_json = await emulator_client.post(
        "/connect/token", json={"grant_type": "client_credentials", **CLIENT}
    )
    assert wrong_grant.status_code == 400
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"


async def test_an_api_call_without_a_token_is_401(emulator_client: httpx.AsyncClient) -> None:
    """No Authorization header: 401 with {error, message}."""
    response = await emulator_client.get("/io/presigned_url", headers={"tenantId": "t"})
    assert response.status_code == 401
    assert set(response.json()) == {"error", "message"}


async def test_a_forged_token_is_403(emulator_client: httpx.AsyncClient) -> None:
    """A token the emulator did not sign answers 403, like the real gateway."""
    headers = {"Authorization": "Bearer ioe.e30.deadbeef", "tenantId": "t"}
    response = await emulator_client.get("/io/presigned_url", headers=headers)
    assert response.status_code == 403


async def test_an_expired_token_is_403(emulator_client: httpx.AsyncClient) -> None:
    """Contract §6: expired tokens get 403 ([BP] refreshes on 403); lifetime is a knob."""
    await configure(emulator_client, token_lifetime_seconds=0)
    expired = await token(emulator_client)
    headers = {"Authorization": f"Bearer {expired}", "tenantId": "t"}
    response = await emulator_client.get("/io/presigned_url", headers=headers)
    assert response.status_code == 403
    assert "expired" in response.json()["message"]


async def test_the_token_lifetime_knob_sets_expires_in(emulator_client: httpx.AsyncClient) -> None:
    """token_lifetime_seconds changes expires_in of new tokens."""
    await configure(emulator_client, token_lifetime_seconds=120)
    form = {"grant_type": "client_credentials", **CLIENT}
    response = await emulator_client.post("/connect/token", data=form)
    assert response.json()["expires_in"] == 120


async def test_health_check_needs_no_token(emulator_client: httpx.AsyncClient) -> None:
    """GET /io/health_check answers 200 without auth (contract §3.11)."""
    response = await emulator_client.get("/io/health_check")
    assert response.status_code == 200


async def test_a_missing_tenant_header_is_400(emulator_client: httpx.AsyncClient) -> None:
    """Authenticated but without tenantId: 400 missing_header."""
    headers = {"Authorization": f"Bearer {await token(emulator_client)}"}
    response = await emulator_client.get("/io/presigned_url", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "missing_header"


async def test_unknown_routes_and_methods_answer_json_errors(
    emulator_client: httpx.AsyncClient,
) -> None:
    """404 and 405 come with {error, message} bodies too."""
    missing = await emulator_client.get("/io/nope")
    wrong_method = await emulator_client.delete("/io/status")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["error"]) == (405, "method_not_allowed")
