"""Change counters in `sync_state`: an admin write bumps one, every instance polls it."""

from __future__ import annotations

import contextlib
import secrets

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from .db import Store
from .schema import sync_state

CATALOG = "catalog"  # keys, users, subscriptions, models, nodes: what the relay's cache holds


async def read(store: Store, name: str = CATALOG) -> int:
    async with store.read() as conn:
        value = (await conn.execute(select(sync_state.c.version).where(sync_state.c.name == name))).scalar()
    return int(value or 0)


async def bump(store: Store, name: str = CATALOG) -> int:
    """Add one to the counter (made at 1 if missing) and return the new value."""
    for _ in range(3):
        try:
            async with store.begin() as conn:
                done = await conn.execute(update(sync_state).where(sync_state.c.name == name)
                                          .values(version=sync_state.c.version + 1))
                if done.rowcount == 0:
                    await conn.execute(insert(sync_state).values(name=name, version=1))
                value = (await conn.execute(select(sync_state.c.version)
                                            .where(sync_state.c.name == name))).scalar_one()
            return int(value)
        except IntegrityError:  # two first bumps at once: the other made the row, update it now
            continue
    raise RuntimeError(f"could not bump the {name!r} change counter")


async def database_id(store: Store) -> str:
    """A random number drawn once per database: Redis names are scoped by it (gateway/shared.py)."""
    async with store.read() as conn:
        found = (await conn.execute(select(sync_state.c.version).where(sync_state.c.name == "database"))).scalar()
    if found is None:
        with contextlib.suppress(IntegrityError):  # another instance drew it first: read theirs
            async with store.begin() as conn:
                await conn.execute(insert(sync_state).values(name="database", version=secrets.randbelow(2**31)))
        async with store.read() as conn:
            found = (await conn.execute(select(sync_state.c.version)
                                        .where(sync_state.c.name == "database"))).scalar_one()
    return f"{int(found):x}"
