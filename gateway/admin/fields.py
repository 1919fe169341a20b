"""Input validation for the consoles: one validator per kind of field, each naming the field
in its 400 message. Limits follow the table columns so PostgreSQL never rejects a value."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from ..store.schema import MODEL_KINDS, PROVIDERS, ROLES
from .common import ApiError, invalid

Validator = Callable[[Any, str], Any]

USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
# model names go into URL paths (/subscriptions/{model}, Gemini's models/{model}:generateContent)
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
INTEGER = re.compile(r"^-?[0-9]{1,12}$")
PRICE_FIELDS = ("input_per_1k", "output_per_1k", "per_image", "per_second")
STATUSES = ("active", "disabled")
MAX_INT = 2**31 - 1
DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 50, 500, 10**9


def pick(data: dict[str, Any], validators: dict[str, Validator], required: tuple[str, ...] = (),
         prefix: str = "") -> dict[str, Any]:
    """Validate every field of `data`: unknown or missing fields are 400s, like bad values.
    `prefix` names the enclosing field in messages ("price.input_per_1k")."""
    unknown = sorted(set(data) - set(validators))
    if unknown:
        raise invalid(prefix + unknown[0], f"unknown field (allowed: {', '.join(sorted(validators))})")
    for name in required:
        if name not in data:
            raise invalid(prefix + name, "is required")
    return {name: validators[name](value, prefix + name) for name, value in data.items()}


def text(max_len: int, *, min_len: int = 1, pattern: re.Pattern[str] | None = None, rule: str = "",
         multiline: bool = False) -> Validator:
    def check(value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise invalid(field, "must be a string")
        if not min_len <= len(value) <= max_len:
            raise invalid(field, f"must be {min_len}..{max_len} characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise invalid(field, rule or f"must match {pattern.pattern}")
        bad = CONTROL.search(re.sub(r"[\t\r\n]", "", value) if multiline else value)
        if bad:
            raise invalid(field, "must not contain control characters")
        return value
    return check


def nullable(validator: Validator) -> Validator:
    return lambda value, field: None if value is None else validator(value, field)


def integer(lo: int, hi: int = MAX_INT) -> Validator:
    def check(value: Any, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(field, "must be an integer")
        if not lo <= value <= hi:
            raise invalid(field, f"must be between {lo} and {hi}")
        return value
    return check


def number(lo: float, hi: float) -> Validator:
    def check(value: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise invalid(field, "must be a number")
        if not lo <= value <= hi:
            raise invalid(field, f"must be between {lo:g} and {hi:g}")
        return float(value)
    return check


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(field, "must be true or false")
    return value


def choice(options: tuple[str, ...]) -> Validator:
    def check(value: Any, field: str) -> str:
        if value not in options:
            raise invalid(field, f"must be one of {', '.join(options)}")
        return value
    return check


username = text(64, min_len=3, pattern=USERNAME, rule="must be 3..64 characters of A-Z a-z 0-9 _ . -")
password = text(1024, min_len=8)
role = choice(ROLES)
status = choice(STATUSES)
quota = nullable(number(0, 1e15))
model_name = text(128, pattern=MODEL_NAME, rule="must be 1..128 characters of A-Z a-z 0-9 . _ @ + - "
                  "starting with a letter or digit")
node_name = text(128, pattern=NODE_NAME, rule="must be 1..128 characters of A-Z a-z 0-9 . _ - "
                 "starting with a letter or digit")
provider = choice(PROVIDERS)
kind = choice(MODEL_KINDS)
weight = integer(0, 1_000_000)
priority = integer(-1_000_000, 1_000_000)
rpm = nullable(integer(1, 1_000_000_000))
tpm = nullable(integer(1, 2_000_000_000))
concurrency = nullable(integer(1, 1_000_000))
key_name = text(128)
display_name = nullable(text(128))
description = nullable(text(4000, multiline=True))
upstream_key = text(512, min_len=0)


def base_url(value: Any, field: str) -> str:
    value = text(512)(value, field)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0..65535
    except ValueError as exc:
        raise invalid(field, f"is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(field, "must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise invalid(field, "must not have a query or fragment (it is the root that paths are appended to)")
    return value.rstrip("/")


def price(value: Any, field: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise invalid(field, f"must be an object with any of {', '.join(PRICE_FIELDS)}")
    return pick(value, {name: nullable(number(0, 1e6)) for name in PRICE_FIELDS}, prefix=f"{field}.")


def timestamp(value: Any, field: str) -> float:
    """Unix seconds (a number) or an ISO-8601 string; a string without a zone is UTC."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise invalid(field, "must be unix seconds or an ISO-8601 date-time") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return number(0, 1e11)(value, field)


def future_timestamp(now: float) -> Validator:
    def check(value: Any, field: str) -> float | None:
        if value is None:
            return None
        moment = timestamp(value, field)
        if moment <= now:
            raise invalid(field, "must be in the future")
        return moment
    return check


def model_list(value: Any, field: str) -> list[str] | None:
    """Allowed model names of a key; null means every subscribed model."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 1000:
        raise invalid(field, "must be a list of model names (or null for every subscribed model)")
    names = [model_name(item, f"{field}[{i}]") for i, item in enumerate(value)]
    return list(dict.fromkeys(names))


def served_models(value: Any, field: str) -> list[dict[str, Any]]:
    """A node's models: [{model, upstream_model?}]; a bare string is {model: string}."""
    if not isinstance(value, list) or len(value) > 1000:
        raise invalid(field, "must be a list of {model, upstream_model?} objects")
    served: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        if isinstance(item, str):
            item = {"model": item}
        if not isinstance(item, dict):
            raise invalid(where, "must be an object {model, upstream_model?}")
        entry = pick(item, {"model": model_name, "upstream_model": nullable(text(128))}, required=("model",),
                     prefix=f"{where}.")
        if any(s["model"] == entry["model"] for s in served):
            raise invalid(where, f"model {entry['model']!r} is listed twice")
        served.append({"model": entry["model"], "upstream_model": entry.get("upstream_model")})
    return served


# --- query parameters ----------------------------------------------------------------------

def _query_one(request: Request, name: str) -> str | None:
    """The parameter's one value. Starlette's .get() returns the last of repeated values, so
    `?window=junk&window=` would read as absent: a repeated parameter is refused instead."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ApiError(400, "invalid_query", f"{name}: given {len(values)} times; give it once")
    return values[0] if values else None


def query_text(request: Request, name: str, max_len: int = 128) -> str | None:
    value = _query_one(request, name)
    if value is None or value == "":
        return None
    if len(value) > max_len or CONTROL.search(value):
        raise ApiError(400, "invalid_query", f"{name}: must be at most {max_len} printable characters")
    return value


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = _query_one(request, name)
    if raw is None or raw == "":
        return default
    if not INTEGER.fullmatch(raw) or not lo <= int(raw) <= hi:
        raise ApiError(400, "invalid_query", f"{name}: must be an integer between {lo} and {hi}")
    return int(raw)


def query_time(request: Request, name: str) -> float | None:
    raw = query_text(request, name, 64)
    if raw is None:
        return None
    try:
        return timestamp(float(raw) if _is_number(raw) else raw, name)
    except ApiError as exc:
        raise ApiError(400, "invalid_query", exc.message) from None


def _is_number(raw: str) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True


def page(request: Request) -> tuple[int, int]:
    """Every list takes ?limit= (1..500, default 50) and ?offset= (default 0)."""
    return (query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
            query_int(request, "offset", 0, 0, MAX_OFFSET))


def listing(items: list[dict[str, Any]], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"data": items, "total": total, "limit": limit, "offset": offset}
