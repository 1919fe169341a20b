"""The OpenAPI documents this package ships: where they are, and loading them."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

OPENAPI_DIR = Path(__file__).resolve().parent / "openapi"


def names() -> list[str]:
    """Names of the shipped documents (file stem: "openai", "gemini", "sora", "gateway")."""
    return sorted(p.stem for p in OPENAPI_DIR.glob("*.yaml"))


def path(name: str) -> Path:
    """Filesystem path of a document, e.g. for `schemathesis run`."""
    p = OPENAPI_DIR / f"{name}.yaml"
    if not p.is_file():
        raise KeyError(f"no OpenAPI document named {name!r} (have: {', '.join(names())})")
    return p


def paths() -> dict[str, Path]:
    return {n: path(n) for n in names()}


@functools.cache
def load(name: str) -> dict[str, Any]:
    """The parsed document. Cached: treat the result as read-only."""
    with path(name).open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def schema_names(name: str) -> list[str]:
    return sorted(load(name).get("components", {}).get("schemas", {}))
