"""Who may call what: the API key (any of the header forms), then model, quota and rate."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ..cache import Cache, KeyInfo, UserInfo
from .errors import RelayError
from .http import Req

if TYPE_CHECKING:
    from .call import Call
    from .context import RelayContext
    from .dialects.base import Dialect


def key_of(req: Req, gemini: bool) -> str | None:
    """The key from `Authorization: <key>` (the seed's form), `Authorization: Bearer <key>`,
    `x-api-key`, and on Gemini routes `x-goog-api-key` or `?key=`."""
    auth = req.headers.get(b"authorization")
    if auth:
        value = auth.decode("latin-1").strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        if value:
            return value
    for name in (b"x-api-key", b"x-goog-api-key") if gemini else (b"x-api-key",):
        v = req.headers.get(name)
        if v:
            return v.decode("latin-1").strip()
    if gemini and req.scope.get("query_string"):
        found = parse_qs(req.scope["query_string"].decode("latin-1")).get("key")
        if found and found[-1]:
            return found[-1]
    return None


def authenticate(cache: Cache, req: Req, gemini: bool = False) -> tuple[KeyInfo, UserInfo]:
    raw = key_of(req, gemini)
    if not raw:
        raise RelayError(401, "Missing API key: send it in the Authorization header", code="missing_api_key")
    key = cache.key(raw)
    if key is None:
        raise RelayError(401, "Incorrect API key provided", code="invalid_api_key")
    if not key.enabled:
        raise RelayError(401, "This API key is disabled", code="api_key_disabled")
    if key.expires_at is not None and key.expires_at <= time.time():
        raise RelayError(401, "This API key has expired", code="api_key_expired")
    user = cache.user(key.user_id)
    if user is None or not user.active:
        raise RelayError(401, "The owner of this API key is disabled", code="account_disabled")
    return key, user


def authorize(cache: Cache, key: KeyInfo, user: UserInfo, model: str) -> None:
    """404 for an unknown model, 403 for a model not subscribed or not allowed (quota and rates: `limit`)."""
    if model not in cache.models:
        raise RelayError(404, f"The model `{model}` does not exist", code="model_not_found", param="model")
    if model not in cache.subscriptions.get(user.id, ()):
        raise RelayError(403, f"You have not subscribed to the model `{model}`: subscribe in the market first",
                         code="model_not_subscribed", param="model")
    if key.models is not None and model not in key.models:
        raise RelayError(403, f"This API key may not use the model `{model}`", code="model_not_allowed",
                         param="model")


def admit(ctx: RelayContext, req: Req, call: Call, dialect: Dialect, model: Any) -> str:
    """Model policy, then the model's kind against the dialect. Sets the call's model and its info."""
    if not isinstance(model, str) or not model:
        raise RelayError(400, "model is required and must be a string", param="model", code="missing_model")
    call.model = model
    authorize(ctx.cache, call.key, call.user, model)
    call.admitted = True  # the controller applies the key's and the user's limits next
    call.model_info = info = ctx.cache.models[model]
    # a model of another kind is served by nodes of another API: the request would reach, say, a
    # Sora node's /chat/completions and the client get that node's error, in the wrong dialect
    if dialect.kinds is not None and info.kind not in dialect.kinds:
        raise dialect.wrong_kind(req, model, info.kind)
    return model


async def limit(ctx: RelayContext, call: Call) -> None:
    """Quota, tpm, rpm and concurrency (gateway/limits.py: shared through Redis, or per process)."""
    refused = await ctx.limits.admit(call.key, call.user, call.request_id)
    if refused is not None:
        headers = {"retry-after": str(int(refused.retry_after_s))} if refused.retry_after_s else {}
        raise RelayError(refused.status, refused.message, code=refused.code, headers=headers)
