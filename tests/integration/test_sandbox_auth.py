"""Signed requests against the sandbox: HMAC over the raw bytes, API key checks, the recvWindow rule."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sandbox_support import API_KEY, FORM, SECRET, SignedClient, hmac_hex, signed_payload

from casino_tui.clock import ManualClock
from casino_tui.sandbox import SandboxServer, running_sandbox
from casino_tui.sandbox.auth import Credentials, split_signature, verify_signed

# BINANCE.md §2: the official HMAC known-answer vector.
DOC_KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
DOC_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
DOC_PAYLOAD = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943"
DOC_SIGNATURE = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
DOC_TIMESTAMP = 1591702613943


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[SandboxServer, ManualClock]]:
    clock = ManualClock()
    async with running_sandbox(clock=clock, symbols=["BTCUSDT", "ETHUSDT"]) as server:
        yield server, clock


@pytest.fixture
async def http(sandbox: tuple[SandboxServer, ManualClock]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox[0].base_url) as client:
        yield client


def test_documented_hmac_vector_verifies_in_query_and_in_body() -> None:
    creds = Credentials(DOC_KEY, DOC_SECRET)
    raw = f"{DOC_PAYLOAD}&signature={DOC_SIGNATURE}".encode()
    in_query = verify_signed(raw, b"", DOC_KEY, creds, server_ms=DOC_TIMESTAMP + 10)
    in_body = verify_signed(b"", raw, DOC_KEY, creds, server_ms=DOC_TIMESTAMP + 10)
    assert in_query == in_body
    assert in_query["price"] == "9000" and in_query["timestamp"] == str(DOC_TIMESTAMP)


def test_mixed_query_and_body_are_concatenated_without_separator() -> None:
    creds = Credentials(DOC_KEY, DOC_SECRET)
    query = b"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body_params = b"quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943"
    # BINANCE.md §2: the docs' Example 3 without its stray space (computed locally, not official).
    signature = "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"
    params = verify_signed(
        query, body_params + b"&signature=" + signature.encode(), DOC_KEY, creds, DOC_TIMESTAMP
    )
    assert params["timeInForce"] == "GTC" and params["quantity"] == "1"


def test_signature_must_be_the_last_parameter() -> None:
    assert split_signature(b"a=1&signature=ff") == (b"a=1", "ff")
    assert split_signature(b"signature=ff") == (b"", "ff")
    assert split_signature(b"a=1&b=2") == (b"a=1&b=2", None)


async def test_signed_request_with_good_signature_is_answered(
    sandbox: tuple[SandboxServer, ManualClock], http: httpx.AsyncClient
) -> None:
    client = SignedClient(http, sandbox[1])
    response = await client.get("/fapi/v2/balance")
    assert response.status_code == 200, response.text
    assert response.json()[0]["asset"] == "USDT"


async def test_parameter_order_is_signed_as_sent(
    sandbox: tuple[SandboxServer, ManualClock], http: httpx.AsyncClient
) -> None:
    ts = sandbox[1].now_ms()
    payload = f"timestamp={ts}&recvWindow=5000&symbol=BTCUSDT"
    ok = await http.get(
        f"/fapi/v3/positionRisk?{payload}&signature={hmac_hex(SECRET, payload)}",
        headers={"X-MBX-APIKEY": API_KEY},
    )
    assert ok.status_code == 200, ok.text
    reordered = f"symbol=BTCUSDT&timestamp={ts}&recvWindow=5000"
    bad = await http.get(
        f"/fapi/v3/positionRisk?{reordered}&signature={hmac_hex(SECRET, payload)}",
        headers={"X-MBX-APIKEY": API_KEY},
    )
    assert bad.json()["code"] == -1022


async def test_bad_signature_is_refused_with_1022(
    sandbox: tuple[SandboxServer, ManualClock], http: httpx.AsyncClient
) -> None:
    client = SignedClient(http, sandbox[1], secret="not-the-secret")
    response = await client.get("/fapi/v2/account")
    assert response.status_code == 400
    assert response.json() == {"code": -1022, "msg": "Signature for this request is not valid."}


async def test_missing_api_key_is_2014_and_unknown_key_is_2015(
    sandbox: tuple[SandboxServer, ManualClock], http: httpx.AsyncClient
) -> None:
    payload = signed_payload({}, sandbox[1].now_ms())
    missing = await http.get(f"/fapi/v2/account?{payload}")
    assert (missing.status_code, missing.json()["code"]) == (401, -2014)
    unknown = await http.get(f"/fapi/v2/account?{payload}", headers={"X-MBX-APIKEY": "someone-else"})
    assert (unknown.status_code, unknown.json()["code"]) == (401, -2015)
    listen_key = await http.post("/fapi/v1/listenKey")
    assert listen_key.json()["code"] == -2014


async def test_missing_signature_or_timestamp_is_1102(
    sandbox: tuple[SandboxServer, ManualClock], http: httpx.AsyncClient
) -> None:
    headers = {"X-MBX-APIKEY": API_KEY}
    unsigned = await http.get(f"/fapi/v2/account?timestamp={sandbox[1].now_ms()}", headers=headers)
    assert unsigned.json()["code"] == -1102 and "signature" in unsigned.json()["msg"]
    payload = "recvWindow=5000"
    no_ts = await http.get(
        f"/fapi/v2/account?{payload}&signature={hmac_hex(SECRET, payload)}", headers=headers
    )
    assert no_ts.json()["code"] == -1102 and "timestamp" in no_ts.json()["msg"]


async def test_timestamp_outside_recv_window_or_ahead_is_1021(
    sandbox: tuple[SandboxServer, ManualClock], http: httpx.AsyncClient
) -> None:
    now = sandbox[1].now_ms()
    headers = {"X-MBX-APIKEY": API_KEY}
    stale = await http.get(
        f"/fapi/v2/balance?{signed_payload({'recvWindow': 5000}, now - 5001)}", headers=headers
    )
    assert (stale.status_code, stale.json()["code"]) == (400, -1021)
    assert "outside of the recvWindow" in stale.json()["msg"]
    ahead = await http.get(f"/fapi/v2/balance?{signed_payload({}, now + 1000)}", headers=headers)
    assert ahead.json()["code"] == -1021 and "ahead" in ahead.json()["msg"]
    wide = await http.get(
        f"/fapi/v2/balance?{signed_payload({'recvWindow': 60000}, now - 30000)}", headers=headers
    )
    assert wide.status_code == 200, wide.text


async def test_signed_post_accepts_parameters_split_between_query_and_body(
    sandbox: tuple[SandboxServer, ManualClock], http: httpx.AsyncClient
) -> None:
    query = "symbol=BTCUSDT"
    body = f"leverage=7&timestamp={sandbox[1].now_ms()}"
    signature = hmac_hex(SECRET, query + body)
    response = await http.post(
        f"/fapi/v1/leverage?{query}",
        content=f"{body}&signature={signature}",
        headers={"X-MBX-APIKEY": API_KEY, **FORM},
    )
    assert response.status_code == 200, response.text
    assert response.json()["leverage"] == 7


async def test_listen_key_endpoints_need_only_the_api_key(
    sandbox: tuple[SandboxServer, ManualClock], http: httpx.AsyncClient
) -> None:
    created = await http.post("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": API_KEY})
    key = created.json()["listenKey"]
    again = await http.post("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": API_KEY})
    assert again.json()["listenKey"] == key  # one active key per account, extended
    kept = await http.put("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": API_KEY})
    assert kept.json() == {"listenKey": key}
    unknown = await http.put("/fapi/v1/listenKey?listenKey=nope", headers={"X-MBX-APIKEY": API_KEY})
    assert unknown.json() == {"code": -1125, "msg": "This listenKey does not exist."}


async def test_api_restrictions_report_withdrawals_as_switched(
    sandbox: tuple[SandboxServer, ManualClock], http: httpx.AsyncClient
) -> None:
    client = SignedClient(http, sandbox[1])
    before = await client.get("/sapi/v1/account/apiRestrictions")
    assert before.json()["enableWithdrawals"] is False
    switched = await http.post("/__admin__/api_restrictions", json={"enableWithdrawals": True})
    assert switched.status_code == 200
    after = await client.get("/sapi/v1/account/apiRestrictions")
    assert after.json()["enableWithdrawals"] is True
