"""Reading an OpenAPI document in the spec tests: local `$ref`s followed to the node they name."""

from __future__ import annotations

from typing import Any


def deref(document: dict[str, Any], node: Any) -> Any:
    """`node` with whole-node local `$ref` chains (`#/a/b`) followed; other nodes as they are."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node
