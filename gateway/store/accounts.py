"""Users, console sessions, API keys and subscriptions.

Every function returns plain dicts without secrets: no password hash, no key hash
(the relay's cache gets key hashes from `catalog.load_snapshot`).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, func, insert, select, true, update
from sqlalchemy.exc import IntegrityError

from .. import security
from .db import Conflict, Store, row_dict
from .schema import api_keys, sessions, subscriptions, users

USER_COLUMNS = (users.c.id, users.c.username, users.c.role, users.c.status, users.c.quota, users.c.used,
                users.c.created_at)
KEY_COLUMNS = (api_keys.c.id, api_keys.c.user_id, api_keys.c.name, api_keys.c.prefix, api_keys.c.enabled,
               api_keys.c.expires_at, api_keys.c.models, api_keys.c.rpm, api_keys.c.tpm, api_keys.c.concurrency,
               api_keys.c.created_at)
USER_FIELDS = frozenset({"status", "quota", "role", "password"})
KEY_FIELDS = frozenset({"name", "enabled", "expires_at", "models", "rpm", "tpm", "concurrency"})
SESSION_TTL_S = 7 * 24 * 3600.0


# --- users ---------------------------------------------------------------------------------

async def create_user(store: Store, username: str, password: str, *, role: str = "user",
                      quota: float | None = None, status: str = "active") -> dict[str, Any]:
    row = {"username": username, "password_hash": security.hash_password(password), "role": role,
           "status": status, "quota": quota, "used": 0.0, "created_at": time.time()}
    try:
        async with store.begin() as conn:
            result = await conn.execute(insert(users).values(**row))
            user_id = result.inserted_primary_key[0]
    except IntegrityError as exc:
        raise Conflict("username", username) from exc
    return await get_user(store, user_id)  # type: ignore[return-value]


async def get_user(store: Store, user_id: int) -> dict[str, Any] | None:
    return await store.one(select(*USER_COLUMNS).where(users.c.id == user_id))


async def get_user_by_username(store: Store, username: str) -> dict[str, Any] | None:
    return await store.one(select(*USER_COLUMNS).where(users.c.username == username))


async def list_users(store: Store, *, limit: int = 50, offset: int = 0,
                     search: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """Users by id; `search` keeps those whose username contains it (case-insensitive)."""
    condition = true()
    if search:
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        condition = func.lower(users.c.username).like(f"%{escaped}%", escape="\\")
    async with store.read() as conn:
        total = (await conn.execute(select(func.count()).select_from(users).where(condition))).scalar_one()
        rows = await conn.execute(select(*USER_COLUMNS).where(condition).order_by(users.c.id)
                                  .limit(limit).offset(offset))
        return [row_dict(r) for r in rows], total


async def update_user(store: Store, user_id: int, changes: dict[str, Any], *,
                      keep_session: str | None = None) -> dict[str, Any] | None:
    """Apply `changes` (status, quota, role, password). Disabling a user or changing their
    password ends their console sessions (but `keep_session`, the token of the session making
    the change). Returns the updated user, None if unknown."""
    unknown = set(changes) - USER_FIELDS
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    values = {k: v for k, v in changes.items() if k != "password"}
    if "password" in changes:
        values["password_hash"] = security.hash_password(changes["password"])
    async with store.begin() as conn:
        if values:
            result = await conn.execute(update(users).where(users.c.id == user_id).values(**values))
            if result.rowcount == 0:
                return None
        if "password" in changes or changes.get("status") == "disabled":
            ended = sessions.c.user_id == user_id
            if keep_session is not None:
                ended = ended & (sessions.c.token_hash != security.hash_key(keep_session))
            await conn.execute(delete(sessions).where(ended))
    return await get_user(store, user_id)


async def delete_user(store: Store, user_id: int) -> bool:
    """Delete a user with their keys, sessions and subscriptions (usage records stay)."""
    async with store.begin() as conn:
        # explicit, so it does not depend on the database enforcing ON DELETE CASCADE
        for table in (api_keys, sessions, subscriptions):
            await conn.execute(delete(table).where(table.c.user_id == user_id))
        result = await conn.execute(delete(users).where(users.c.id == user_id))
    return result.rowcount > 0


async def authenticate(store: Store, username: str, password: str) -> dict[str, Any] | None:
    """The user if the password is right (whatever their status), else None."""
    user = await store.one(select(*USER_COLUMNS, users.c.password_hash).where(users.c.username == username))
    if user is None:
        security.burn_password_check(password)
        return None
    if not security.verify_password(password, user.pop("password_hash")):
        return None
    return user


async def ensure_user(store: Store, username: str, password: str, *, role: str = "user",
                      quota: float | None = None, reset_password: bool = False) -> tuple[dict[str, Any], bool]:
    """Create the user unless it exists: (user, created). Safe when several workers start at once.
    An existing user keeps its role and status; its password is replaced only with `reset_password`."""
    existing = await get_user_by_username(store, username)
    if existing is None:
        try:
            return await create_user(store, username, password, role=role, quota=quota), True
        except Conflict:
            existing = await get_user_by_username(store, username)
            if existing is None:
                raise
    if reset_password:
        existing = await update_user(store, existing["id"], {"password": password}) or existing
    return existing, False


async def ensure_admin(store: Store, username: str, password: str) -> tuple[dict[str, Any], bool]:
    """First start: make sure a platform admin called `username` exists."""
    return await ensure_user(store, username, password, role="platform_admin")


# --- console sessions ----------------------------------------------------------------------

async def create_session(store: Store, user_id: int, *, ttl_s: float = SESSION_TTL_S) -> tuple[str, float]:
    """A new console session: (token for the client, expires_at). Expired sessions are purged."""
    token, token_hash = security.new_session_token()
    now = time.time()
    async with store.begin() as conn:
        await conn.execute(delete(sessions).where(sessions.c.expires_at < now))
        await conn.execute(insert(sessions).values(token_hash=token_hash, user_id=user_id, created_at=now,
                                                   expires_at=now + ttl_s))
    return token, now + ttl_s


async def lookup_session(store: Store, token: str) -> dict[str, Any] | None:
    """The active user behind an unexpired session token, else None."""
    return await store.one(
        select(*USER_COLUMNS).join(sessions, sessions.c.user_id == users.c.id)
        .where(sessions.c.token_hash == security.hash_key(token), sessions.c.expires_at > time.time(),
               users.c.status == "active"))


async def delete_session(store: Store, token: str) -> bool:
    async with store.begin() as conn:
        result = await conn.execute(delete(sessions).where(sessions.c.token_hash == security.hash_key(token)))
    return result.rowcount > 0


async def delete_user_sessions(store: Store, user_id: int, *, keep_token: str | None = None) -> int:
    condition = sessions.c.user_id == user_id
    if keep_token is not None:
        condition = condition & (sessions.c.token_hash != security.hash_key(keep_token))
    async with store.begin() as conn:
        result = await conn.execute(delete(sessions).where(condition))
    return result.rowcount


# --- API keys ------------------------------------------------------------------------------

async def create_key(store: Store, user_id: int, name: str, *, enabled: bool = True,
                     expires_at: float | None = None, models: list[str] | None = None,
                     rpm: int | None = None, tpm: int | None = None,
                     concurrency: int | None = None) -> tuple[dict[str, Any], str]:
    """A new API key: (key as listed, full key). The full key exists only in this return value."""
    key, key_hash, prefix = security.new_api_key()
    async with store.begin() as conn:
        result = await conn.execute(insert(api_keys).values(
            user_id=user_id, name=name, key_hash=key_hash, prefix=prefix, enabled=enabled,
            expires_at=expires_at, models=models, rpm=rpm, tpm=tpm, concurrency=concurrency,
            created_at=time.time()))
        key_id = result.inserted_primary_key[0]
    return await get_key(store, key_id), key  # type: ignore[return-value]


async def get_key(store: Store, key_id: int, *, user_id: int | None = None) -> dict[str, Any] | None:
    """A key by id; with `user_id`, only if that user owns it."""
    query = select(*KEY_COLUMNS).where(api_keys.c.id == key_id)
    if user_id is not None:
        query = query.where(api_keys.c.user_id == user_id)
    return await store.one(query)


async def list_keys(store: Store, user_id: int, *, limit: int = 50,
                    offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    async with store.read() as conn:
        total = (await conn.execute(select(func.count()).select_from(api_keys)
                                    .where(api_keys.c.user_id == user_id))).scalar_one()
        rows = await conn.execute(select(*KEY_COLUMNS).where(api_keys.c.user_id == user_id)
                                  .order_by(api_keys.c.id).limit(limit).offset(offset))
        return [row_dict(r) for r in rows], total


async def update_key(store: Store, key_id: int, user_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
    """Apply `changes` (name, enabled, expires_at, models, rpm, tpm, concurrency) to a key the user owns."""
    unknown = set(changes) - KEY_FIELDS
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if changes:
        async with store.begin() as conn:
            result = await conn.execute(update(api_keys).where(api_keys.c.id == key_id,
                                                               api_keys.c.user_id == user_id).values(**changes))
            if result.rowcount == 0:
                return None
    return await get_key(store, key_id, user_id=user_id)


async def delete_key(store: Store, key_id: int, user_id: int) -> bool:
    async with store.begin() as conn:
        result = await conn.execute(delete(api_keys).where(api_keys.c.id == key_id,
                                                           api_keys.c.user_id == user_id))
    return result.rowcount > 0


# --- subscriptions -------------------------------------------------------------------------

async def list_subscriptions(store: Store, user_id: int, *, limit: int = 50,
                             offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """[{model, created_at}] by model name: (page, total count)."""
    mine = subscriptions.c.user_id == user_id
    async with store.read() as conn:
        total = (await conn.execute(select(func.count()).select_from(subscriptions).where(mine))).scalar_one()
        rows = await conn.execute(select(subscriptions.c.model, subscriptions.c.created_at).where(mine)
                                  .order_by(subscriptions.c.model).limit(limit).offset(offset))
        return [row_dict(r) for r in rows], total


async def get_subscription(store: Store, user_id: int, model: str) -> dict[str, Any] | None:
    return await store.one(select(subscriptions.c.model, subscriptions.c.created_at)
                           .where(subscriptions.c.user_id == user_id, subscriptions.c.model == model))


async def subscribe(store: Store, user_id: int, model: str) -> bool:
    """Subscribe; False if the user already was (idempotent)."""
    try:
        async with store.begin() as conn:
            await conn.execute(insert(subscriptions).values(user_id=user_id, model=model, created_at=time.time()))
    except IntegrityError:
        return False
    return True


async def unsubscribe(store: Store, user_id: int, model: str) -> bool:
    async with store.begin() as conn:
        result = await conn.execute(delete(subscriptions).where(subscriptions.c.user_id == user_id,
                                                                subscriptions.c.model == model))
    return result.rowcount > 0
