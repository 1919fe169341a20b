"""gateway.store and gateway.security: schema creation, every query module, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from gateway_fixtures import postgres_url, store  # noqa: F401  (pytest fixture)
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from gateway import security
from gateway.store import Conflict, Store, accounts, catalog, schema, usage, videos
from gateway.store.db import drop_pg_schema, normalize_url

# --- security ------------------------------------------------------------------------------


def test_password_hash_roundtrip_and_format() -> None:
    encoded = security.hash_password("s3cret-password")
    scheme, n, r, p, salt, digest = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert security.verify_password("s3cret-password", encoded)
    assert not security.verify_password("s3cret-passwore", encoded)
    assert security.hash_password("s3cret-password") != encoded  # random salt
    assert not security.verify_password("x", "md5$abc")
    assert not security.verify_password("x", "scrypt$bad")


def test_api_keys_and_tokens() -> None:
    key, key_hash, prefix = security.new_api_key()
    assert key.startswith("sk-tk-") and len(key) == 46
    assert key_hash == security.hash_key(key) and len(key_hash) == 64
    assert prefix == f"sk-tk-{key[6:10]}...{key[-4:]}" and key not in prefix
    assert security.new_api_key()[0] != key
    token, token_hash = security.new_session_token()
    assert len(token) >= 43 and token_hash == security.hash_key(token)


def test_generated_passwords_never_read_as_a_flag() -> None:
    # 1 in 64 token_urlsafe strings starts with '-', which argparse reads as an option after
    # --admin-password; 2,000 draws make such a start all but certain without the guard.
    passwords = {security.new_password() for _ in range(2000)}
    assert len(passwords) == 2000
    assert all(len(p) == 16 and not p.startswith("-") for p in passwords)


def test_secret_hint_never_shows_a_short_secret() -> None:
    assert security.secret_hint("sk-upstream-abcdef123456") == "sk-...3456"
    assert security.secret_hint("short") == "***"
    assert security.secret_hint("") is None


def test_normalize_url() -> None:
    assert normalize_url("postgresql://postgres@127.0.0.1:5432/test") == "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    assert normalize_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert Store.url_for_state_dir("/tmp/state") == "sqlite+aiosqlite:////tmp/state/topapi.sqlite3"


# --- schema creation -----------------------------------------------------------------------


async def test_sqlite_pragmas_and_repeated_concurrent_open(tmp_path) -> None:
    url = Store.url_for_state_dir(tmp_path / "state")
    stores = await asyncio.gather(*(Store.open(url) for _ in range(3)))  # three "processes" at once
    try:
        user = await accounts.create_user(stores[0], "alice", "password1")
        assert (await accounts.get_user(stores[2], user["id"]))["username"] == "alice"
        async with stores[1].read() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() >= 1000
    finally:
        for opened in stores:
            await opened.close()
    again = await Store.open(url)  # existing schema: nothing to create, data kept
    try:
        assert (await accounts.get_user_by_username(again, "alice")) is not None
    finally:
        await again.close()


async def test_postgres_concurrent_open_same_schema() -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("TOPAPI_TEST_POSTGRES_URL is not set: PostgreSQL variant skipped")
    schema = f"t_{uuid.uuid4().hex}"
    stores = await asyncio.gather(*(Store.open(url, schema=schema) for _ in range(3)))
    try:
        await accounts.create_user(stores[0], "alice", "password1")
        assert await accounts.get_user_by_username(stores[1], "alice") is not None
        async with stores[2].read() as conn:
            assert (await conn.execute(text("SELECT current_schema()"))).scalar() == schema
    finally:
        for opened in stores:
            await opened.close()
        await drop_pg_schema(url, schema)


async def test_foreign_keys_enforced(store: Store) -> None:  # noqa: F811
    with pytest.raises(IntegrityError):  # no silent orphans: SQLite too has foreign keys on
        async with store.begin() as conn:
            await conn.execute(schema.sessions.insert().values(token_hash="x", user_id=999, created_at=0,
                                                               expires_at=1))


# --- users, sessions -----------------------------------------------------------------------


async def test_users_crud(store: Store) -> None:  # noqa: F811
    alice = await accounts.create_user(store, "alice", "password1", quota=5.0)
    assert alice["role"] == "user" and alice["status"] == "active" and alice["used"] == 0.0
    assert "password_hash" not in alice
    with pytest.raises(Conflict):
        await accounts.create_user(store, "alice", "password2")
    for i in range(4):
        await accounts.create_user(store, f"user{i}", "password1")
    page, total = await accounts.list_users(store, limit=2, offset=1)
    assert total == 5 and [u["username"] for u in page] == ["user0", "user1"]

    updated = await accounts.update_user(store, alice["id"], {"quota": None, "role": "node_admin"})
    assert updated["quota"] is None and updated["role"] == "node_admin"
    assert await accounts.update_user(store, 999, {"quota": 1.0}) is None
    with pytest.raises(ValueError):
        await accounts.update_user(store, alice["id"], {"used": 0})

    assert await accounts.authenticate(store, "alice", "password1") is not None
    assert await accounts.authenticate(store, "alice", "wrong-password") is None
    assert await accounts.authenticate(store, "nobody", "password1") is None
    await accounts.update_user(store, alice["id"], {"password": "new-password"})
    assert await accounts.authenticate(store, "alice", "new-password") is not None


async def test_ensure_admin_is_idempotent(store: Store) -> None:  # noqa: F811
    first, created = await accounts.ensure_admin(store, "root", "password1")
    assert created and first["role"] == "platform_admin"
    again, created = await accounts.ensure_admin(store, "root", "other-password")
    assert not created and again["id"] == first["id"]
    assert await accounts.authenticate(store, "root", "password1") is not None  # password kept
    _, created = await accounts.ensure_user(store, "root", "other-password", reset_password=True)
    assert await accounts.authenticate(store, "root", "other-password") is not None
    results = await asyncio.gather(*(accounts.ensure_user(store, "racer", "password1") for _ in range(3)))
    assert sum(created for _, created in results) == 1 and len({u["id"] for u, _ in results}) == 1


async def test_sessions_expire_and_end_with_disable(store: Store) -> None:  # noqa: F811
    alice = await accounts.create_user(store, "alice", "password1")
    token, expires_at = await accounts.create_session(store, alice["id"])
    assert expires_at > time.time()
    assert (await accounts.lookup_session(store, token))["id"] == alice["id"]
    assert await accounts.lookup_session(store, token + "x") is None
    expired, _ = await accounts.create_session(store, alice["id"], ttl_s=-1)
    assert await accounts.lookup_session(store, expired) is None
    assert await accounts.delete_session(store, token)
    assert await accounts.lookup_session(store, token) is None

    keep, _ = await accounts.create_session(store, alice["id"])
    other, _ = await accounts.create_session(store, alice["id"])
    await accounts.update_user(store, alice["id"], {"password": "password2"}, keep_session=keep)
    assert await accounts.lookup_session(store, keep) is not None
    assert await accounts.lookup_session(store, other) is None
    await accounts.update_user(store, alice["id"], {"status": "disabled"})
    assert await accounts.lookup_session(store, keep) is None


async def test_delete_user_removes_keys_sessions_subscriptions(store: Store) -> None:  # noqa: F811
    alice = await accounts.create_user(store, "alice", "password1")
    bob = await accounts.create_user(store, "bob", "password1")
    await accounts.create_key(store, alice["id"], "k")
    await accounts.create_key(store, bob["id"], "k")
    token, _ = await accounts.create_session(store, alice["id"])
    await accounts.subscribe(store, alice["id"], "m1")
    assert await accounts.delete_user(store, alice["id"])
    assert not await accounts.delete_user(store, alice["id"])
    snap = await catalog.load_snapshot(store)
    assert [k["user_id"] for k in snap["api_keys"]] == [bob["id"]]
    assert snap["subscriptions"] == [] and [u["username"] for u in snap["users"]] == ["bob"]
    assert await accounts.lookup_session(store, token) is None


# --- keys, subscriptions -------------------------------------------------------------------


async def test_api_keys(store: Store) -> None:  # noqa: F811
    alice = await accounts.create_user(store, "alice", "password1")
    bob = await accounts.create_user(store, "bob", "password1")
    key, full = await accounts.create_key(store, alice["id"], "ci", models=["gpt-4.1-mini"], rpm=60,
                                          expires_at=time.time() + 3600)
    assert key["prefix"] == security.key_display_prefix(full) and "key_hash" not in key
    assert key["enabled"] is True and key["models"] == ["gpt-4.1-mini"] and key["rpm"] == 60
    assert await accounts.get_key(store, key["id"], user_id=bob["id"]) is None
    assert await accounts.update_key(store, key["id"], bob["id"], {"enabled": False}) is None
    assert not await accounts.delete_key(store, key["id"], bob["id"])
    changed = await accounts.update_key(store, key["id"], alice["id"], {"enabled": False, "models": None})
    assert changed["enabled"] is False and changed["models"] is None
    await accounts.create_key(store, alice["id"], "second")
    page, total = await accounts.list_keys(store, alice["id"], limit=1)
    assert total == 2 and page[0]["id"] == key["id"]
    snap = await catalog.load_snapshot(store)
    assert {k["key_hash"] for k in snap["api_keys"]} >= {security.hash_key(full)}
    assert await accounts.delete_key(store, key["id"], alice["id"])
    assert await accounts.get_key(store, key["id"]) is None


async def test_subscriptions_and_market(store: Store) -> None:  # noqa: F811
    alice = await accounts.create_user(store, "alice", "password1")
    await catalog.create_model(store, "gpt-4.1-mini", "chat", price={"input_per_1k": 0.1})
    await catalog.create_model(store, "hidden", "chat", listed=False)
    assert await accounts.subscribe(store, alice["id"], "gpt-4.1-mini")
    assert not await accounts.subscribe(store, alice["id"], "gpt-4.1-mini")  # idempotent
    subs, total = await accounts.list_subscriptions(store, alice["id"])
    assert total == 1 and subs[0]["model"] == "gpt-4.1-mini"
    market, total = await catalog.list_market(store, alice["id"])
    assert total == 1 and market[0]["name"] == "gpt-4.1-mini" and market[0]["subscribed"] is True
    assert market[0]["price"] == {"input_per_1k": 0.1, "output_per_1k": 0.0, "per_image": 0.0, "per_second": 0.0}
    assert await accounts.unsubscribe(store, alice["id"], "gpt-4.1-mini")
    assert not await accounts.unsubscribe(store, alice["id"], "gpt-4.1-mini")
    market, _ = await catalog.list_market(store, alice["id"])
    assert market[0]["subscribed"] is False


# --- models, nodes, snapshot ---------------------------------------------------------------


async def test_models_and_nodes(store: Store) -> None:  # noqa: F811
    model = await catalog.create_model(store, "gpt-4.1-mini", "chat", display_name="GPT 4.1 mini")
    with pytest.raises(Conflict):
        await catalog.create_model(store, "gpt-4.1-mini", "chat")
    assert (await catalog.update_model(store, model["id"], {"listed": False}))["listed"] is False
    with pytest.raises(ValueError):
        await catalog.update_model(store, model["id"], {"name": "other"})

    node = await catalog.create_node(store, "openai-a", "openai", "http://127.0.0.1:1/v1",
                                     api_key="sk-upstream-0123456789", weight=3,
                                     models=[{"model": "gpt-4.1-mini"}, {"model": "alias", "upstream_model": "gpt-4.1"}])
    assert "api_key" not in node and node["api_key_hint"] == "sk-...6789"
    assert node["models"] == [{"model": "alias", "upstream_model": "gpt-4.1"},
                              {"model": "gpt-4.1-mini", "upstream_model": None}]
    with pytest.raises(Conflict):
        await catalog.create_node(store, "openai-a", "openai", "http://x/v1")
    secret = await catalog.get_node(store, node["id"], with_secret=True)
    assert secret["api_key"] == "sk-upstream-0123456789"
    assert (await catalog.get_node_by_name(store, "openai-a"))["id"] == node["id"]
    assert await catalog.get_node_by_name(store, "nope") is None
    other = await catalog.create_node(store, "gemini-a", "gemini", "http://127.0.0.1:2")
    with pytest.raises(Conflict):
        await catalog.update_node(store, other["id"], {"name": "openai-a"})
    updated = await catalog.update_node(store, node["id"], {"models": [{"model": "gpt-4.1-mini"}], "enabled": False})
    assert updated["models"] == [{"model": "gpt-4.1-mini", "upstream_model": None}] and not updated["enabled"]
    assert await catalog.update_node(store, 999, {"weight": 1}) is None
    nodes, total = await catalog.list_nodes(store, limit=1, offset=1)
    assert total == 2 and [n["name"] for n in nodes] == ["gemini-a"]

    snap = await catalog.load_snapshot(store)
    assert set(snap) == {"users", "api_keys", "subscriptions", "models", "nodes"}
    by_name = {n["name"]: n for n in snap["nodes"]}
    assert by_name["openai-a"]["api_key"] == "sk-upstream-0123456789"
    assert by_name["openai-a"]["models"] == [{"model": "gpt-4.1-mini", "upstream_model": None}]
    assert by_name["gemini-a"]["models"] == [] and by_name["gemini-a"]["provider"] == "gemini"
    assert snap["models"][0]["name"] == "gpt-4.1-mini" and snap["models"][0]["listed"] is False

    assert await catalog.delete_node(store, node["id"])
    assert await catalog.get_node(store, node["id"]) is None
    alice = await accounts.create_user(store, "alice", "password1")
    await accounts.subscribe(store, alice["id"], "gpt-4.1-mini")
    assert await catalog.delete_model(store, model["id"])
    assert (await catalog.load_snapshot(store))["subscriptions"] == []
    assert not await catalog.delete_model(store, model["id"])


# --- usage ---------------------------------------------------------------------------------


def _record(n: int, user_id: int, **over) -> dict:
    return {"request_id": f"req-{n}", "user_id": user_id, "endpoint": "chat.completions", "status": 200,
            "outcome": "ok", "model": "m1", "node": "n1", "prompt_tokens": 10, "completion_tokens": 5,
            "total_tokens": 15, "cost": 0.25, "created_at": 1000.0 + n} | over


async def test_write_batch_and_queries(store: Store) -> None:  # noqa: F811
    alice = await accounts.create_user(store, "alice", "password1")
    bob = await accounts.create_user(store, "bob", "password1")
    await usage.write_batch(store, [
        _record(1, alice["id"]), _record(2, alice["id"], model="m2", cost=0.5),
        _record(3, bob["id"], status=502, outcome="upstream_error", node="n2", cost=0.0, total_tokens=0),
        _record(4, 999),  # a deleted user's record is kept
    ])
    await usage.write_batch(store, [])
    assert (await accounts.get_user(store, alice["id"]))["used"] == pytest.approx(0.75)
    assert (await accounts.get_user(store, bob["id"]))["used"] == 0.0

    items, total = await usage.list_usage(store)
    assert total == 4 and [r["request_id"] for r in items] == ["req-4", "req-3", "req-2", "req-1"]
    items, total = await usage.list_usage(store, user_id=alice["id"], limit=1, offset=1)
    assert total == 2 and items[0]["request_id"] == "req-1" and items[0]["stream"] is False
    assert (await usage.list_usage(store, model="m2"))[1] == 1
    assert (await usage.list_usage(store, node="n2"))[1] == 1
    assert (await usage.list_usage(store, since=1002.5))[1] == 2

    stats = await usage.stats(store)
    assert stats["totals"] == {"requests": 4, "errors": 1, "prompt_tokens": 40, "completion_tokens": 20,
                               "total_tokens": 45, "cost": pytest.approx(1.0)}
    by_model = {m["model"]: m for m in stats["by_model"]}
    assert by_model["m1"]["requests"] == 3 and by_model["m2"]["cost"] == pytest.approx(0.5)
    assert {n["node"]: n["errors"] for n in stats["by_node"]} == {"n1": 0, "n2": 1}
    by_user = {u["user_id"]: u for u in stats["by_user"]}
    assert by_user[alice["id"]]["username"] == "alice" and by_user[999]["username"] is None
    assert (await usage.stats(store, since=1003.5))["totals"]["requests"] == 1


async def test_write_batch_is_one_transaction(store: Store) -> None:  # noqa: F811
    alice = await accounts.create_user(store, "alice", "password1")
    await usage.write_batch(store, [_record(1, alice["id"])])
    with pytest.raises(IntegrityError):  # req-1 again: the whole batch, spend included, is rolled back
        await usage.write_batch(store, [_record(2, alice["id"]), _record(1, alice["id"])])
    assert (await usage.list_usage(store))[1] == 1
    assert (await accounts.get_user(store, alice["id"]))["used"] == pytest.approx(0.25)
    with pytest.raises(ValueError):
        await usage.write_batch(store, [{"request_id": "x", "user_id": 1}])
    with pytest.raises(ValueError):
        await usage.write_batch(store, [_record(5, 1, bogus=1)])


# --- video jobs, response routes -----------------------------------------------------------


async def test_video_jobs(store: Store) -> None:  # noqa: F811
    for n in range(5):
        await videos.create_job(store, id=f"video_{n}", user_id=1, node_id=7, upstream_id=f"up_{n}",
                                model="sora-2", key_id=3, created_at=100.0 + n)
    await videos.create_job(store, id="video_other", user_id=2, node_id=7, upstream_id="up", model="sora-2")
    job = await videos.get_job(store, "video_1", user_id=1)
    assert job["upstream_id"] == "up_1" and job["node_id"] == 7 and job["last"] is None
    assert await videos.get_job(store, "video_1", user_id=2) is None
    assert (await videos.get_job(store, "video_other"))["user_id"] == 2

    page, more = await videos.list_jobs(store, 1, limit=2)
    assert [j["id"] for j in page] == ["video_4", "video_3"] and more
    page, more = await videos.list_jobs(store, 1, after="video_3", limit=2)
    assert [j["id"] for j in page] == ["video_2", "video_1"] and more
    page, more = await videos.list_jobs(store, 1, after="video_1", limit=2)
    assert [j["id"] for j in page] == ["video_0"] and not more
    page, _ = await videos.list_jobs(store, 1, after="video_2", order="asc")
    assert [j["id"] for j in page] == ["video_3", "video_4"]
    assert await videos.list_jobs(store, 1, after="video_other") == ([], False)

    last = {"id": "video_1", "object": "video", "status": "completed", "progress": 100}
    assert await videos.update_last(store, "video_1", last)
    assert (await videos.get_job(store, "video_1"))["last"] == last
    assert await videos.mark_deleted(store, "video_1")
    assert not await videos.mark_deleted(store, "video_1")
    assert await videos.get_job(store, "video_1") is None
    assert (await videos.get_job(store, "video_1", include_deleted=True))["deleted"] is True
    assert "video_1" not in [j["id"] for j in (await videos.list_jobs(store, 1))[0]]


async def test_response_routes(store: Store) -> None:  # noqa: F811
    await videos.add_routes(store, [("resp_1", 1, 10), ("resp_2", 2, 10)])
    await videos.add_routes(store, [("resp_1", 5, 10)])  # known id keeps its first node
    await videos.add_routes(store, [])
    assert (await videos.get_route(store, "resp_1"))["node_id"] == 1
    assert (await videos.get_route(store, "resp_2"))["user_id"] == 10
    assert await videos.get_route(store, "resp_x") is None


# --- the write-behind path: Store.write_many and UsageWriter ------------------------------------


async def test_write_many_on_a_sqlite_file_uses_one_connection_of_its_own(tmp_path) -> None:
    """One transaction per batch on a connection outside the pool; a unique violation is sqlalchemy's
    IntegrityError and leaves nothing of the batch behind."""
    st = await Store.open(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        assert st._sqlite_writer is not None
        alice = await accounts.create_user(st, "alice", "password1")
        await usage.write_batch(st, [_record(i, alice["id"]) for i in range(3)])
        writer_conn = st._sqlite_writer.conn
        await usage.write_batch(st, [_record(3, alice["id"])])
        assert st._sqlite_writer.conn is writer_conn is not None
        with pytest.raises(IntegrityError):
            await usage.write_batch(st, [_record(4, alice["id"]), _record(0, alice["id"])])
        assert (await usage.list_usage(st))[1] == 4
        assert (await accounts.get_user(st, alice["id"]))["used"] == pytest.approx(1.0)
    finally:
        await st.close()
    assert st._sqlite_writer.conn is None


async def test_usage_writer_lingers_for_a_fuller_batch(store: Store, monkeypatch) -> None:  # noqa: F811
    from gateway.usage import UsageWriter

    batches: list[int] = []
    real = usage.write_batch

    async def counting(st, records):
        batches.append(len(records))
        await real(st, records)

    monkeypatch.setattr(usage, "write_batch", counting)
    alice = await accounts.create_user(store, "alice", "password1")
    writer = UsageWriter(store, batch_size=4, linger_s=0.05)
    await writer.start()
    for i in range(6):  # arrive one by one, each a loop turn apart: one transaction for a full batch
        await writer.record(_record(i, alice["id"]))
        await asyncio.sleep(0)
    for _ in range(100):
        if writer.written == 6:
            break
        await asyncio.sleep(0.02)
    assert batches == [4, 2]
    await writer.stop()


async def test_usage_writer_stopped_while_lingering_loses_nothing(store: Store) -> None:  # noqa: F811
    from gateway.usage import UsageWriter

    alice = await accounts.create_user(store, "alice", "password1")
    writer = UsageWriter(store, linger_s=30)  # stop() comes long before the linger ends
    await writer.start()
    for i in range(3):
        await writer.record(_record(i, alice["id"]))
    await asyncio.sleep(0.05)  # the writer holds the first record and lingers
    assert writer.written == 0
    await writer.stop()
    assert writer.written == 3
    assert (await usage.list_usage(store))[1] == 3
    assert (await accounts.get_user(store, alice["id"]))["used"] == pytest.approx(0.75)


async def test_usage_writer_flush_writes_the_batch_it_lingers_on(store: Store) -> None:  # noqa: F811
    from gateway.usage import UsageWriter

    alice = await accounts.create_user(store, "alice", "password1")
    writer = UsageWriter(store, linger_s=30)
    await writer.start()
    await writer.record(_record(1, alice["id"]))
    await asyncio.sleep(0.05)  # taken off the queue: only the writer holds it now
    assert writer.queue.empty() and writer.written == 0
    await writer.flush()
    assert writer.written == 1 and (await usage.list_usage(store))[1] == 1
    await writer.record(_record(2, alice["id"]))  # the writer goes on as before
    await writer.flush()
    assert writer.written == 2
    await writer.stop()
