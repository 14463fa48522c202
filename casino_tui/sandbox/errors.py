"""Binance error replies: `{"code": <int>, "msg": "<text>"}` with the HTTP status Binance uses for each code."""

from __future__ import annotations

import msgspec


class ErrorBody(msgspec.Struct, frozen=True):
    code: int
    msg: str


class ApiError(Exception):
    """An error reply. Raised anywhere below a route; the app turns it into the JSON body and status."""

    def __init__(
        self,
        code: int,
        msg: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
        raw_body: bool = False,
    ) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}
        # 503 "Service Unavailable." style replies carry a bare text body, not the JSON error object.
        self.raw_body = raw_body

    def body(self) -> ErrorBody:
        return ErrorBody(code=self.code, msg=self.msg)


# Messages as Binance words them (error-code.md); the clients match on codes, people read the text.
UNKNOWN_ERROR_503 = "Unknown error, please check your request or try again later."
SERVICE_UNAVAILABLE_503 = "Service Unavailable."
TIMEOUT_MSG = (
    "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
)
THROTTLED_MSG = "Request throttled by system-level protection. Reduce-only/close-position orders are exempt. Please try again."
STOP_ORDER_SWITCH_ALGO_MSG = (
    "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
)


def missing_param(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal_param(name: str) -> ApiError:
    return ApiError(-1130, f"Data sent for parameter '{name}' is not valid.")


def invalid_symbol() -> ApiError:
    return ApiError(-1121, "Invalid symbol.")


def unknown_order_cancel() -> ApiError:
    return ApiError(-2011, "Unknown order sent.")


def no_such_order() -> ApiError:
    return ApiError(-2013, "Order does not exist.")


def bad_api_key_format() -> ApiError:
    return ApiError(-2014, "API-key format invalid.", status=401)


def rejected_api_key() -> ApiError:
    return ApiError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)


def invalid_signature() -> ApiError:
    return ApiError(-1022, "Signature for this request is not valid.")


def timestamp_outside_window() -> ApiError:
    return ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")


def timestamp_ahead() -> ApiError:
    return ApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def invalid_listen_key() -> ApiError:
    return ApiError(-1125, "This listenKey does not exist.")


def invalid_path(method: str, path: str) -> ApiError:
    # As captured from demo-fapi (3P): an unknown path or method is a 404 with code -5000.
    return ApiError(-5000, f"Path {path}, Method {method} is invalid", status=404)


def from_exchange(exc: Exception) -> ApiError:
    """The Binance reply for an error the sim raised (it uses Binance's codes); -2010 (NEW_ORDER_REJECTED) when it gave none."""
    code = getattr(exc, "code", 0) or -2010
    return ApiError(code, str(exc) or "Order was rejected.")
