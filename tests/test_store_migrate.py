"""A database made before a column was added gets it at the next start (Store.create_schema)."""
# ruff: noqa: F811  (the `store` fixture is imported by name)

from __future__ import annotations

from gateway_fixtures import store  # noqa: F401  (fixture)
from sqlalchemy import inspect

from gateway.store import accounts
from gateway.store.schema import ADDED_COLUMNS


async def test_columns_added_since_are_made_on_an_older_database(store) -> None:
    async with store.begin() as conn:
        for column in ADDED_COLUMNS:
            await conn.exec_driver_sql(f'ALTER TABLE {column.table.name} DROP COLUMN "{column.name}"')
    await store.create_schema()  # what the next start does
    async with store.read() as conn:
        names = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("api_keys")})
    assert {"tpm", "concurrency"} <= names
    user = await accounts.create_user(store, "olduser", "correct horse battery")
    key, _ = await accounts.create_key(store, user["id"], "k", tpm=5000, concurrency=2)
    assert (key["tpm"], key["concurrency"]) == (5000, 2)
