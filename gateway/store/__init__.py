"""The gateway's database: `Store` (engine + schema creation) and one query module per concept."""

from __future__ import annotations

from . import accounts, catalog, usage, videos
from .db import Conflict, Store, normalize_url

__all__ = ["Conflict", "Store", "accounts", "catalog", "normalize_url", "usage", "videos"]
