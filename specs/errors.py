"""Error bodies of the three dialects (see WIRE.md "Errors")."""

from __future__ import annotations

from typing import Any

# HTTP status -> google.rpc.Code name, as Google APIs map them
GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "RESOURCE_EXHAUSTED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# HTTP status -> OpenAI error `type`
OPENAI_TYPE = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def openai_error(status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str | None = None) -> dict[str, Any]:
    return {"error": {
        "message": message,
        "type": type or OPENAI_TYPE.get(status, "server_error" if status >= 500 else "invalid_request_error"),
        "param": param,
        "code": code,
    }}


def gemini_error(status: int, message: str, *, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {
        "code": status,
        "message": message,
        "status": GOOGLE_STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"),
        "details": details or [],
    }}


def admin_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
