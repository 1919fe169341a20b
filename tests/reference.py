"""Validation against the official reference documents (copies of ../shared/reference in tests/data/shared).

The official OpenAI document is 3 MB: it is parsed once per test session. It is OpenAPI 3.1
(JSON Schema 2020-12) but still has OpenAPI 3.0 `nullable: true` in places, which is turned
into JSON Schema before use.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import yaml
from conftest import REFERENCE
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OPENAI_DOC = REFERENCE / "openai-openapi.yaml"
_OPENAI_URI = "urn:reference:openai"


def _nullable_to_2020(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_to_2020(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable_to_2020(v) for k, v in node.items()}
    if node.pop("nullable", False):
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@functools.cache
def _openai_components() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with OPENAI_DOC.open(encoding="utf-8") as fh:
        doc = yaml.load(fh, Loader=loader)
    return _nullable_to_2020(doc["components"])


@functools.cache
def _openai_registry() -> Registry:
    contents = {"components": _openai_components()}
    return Registry().with_resource(_OPENAI_URI, Resource.from_contents(contents, default_specification=DRAFT202012))


@functools.cache
def openai_validator(schema: str) -> jsonschema.Draft202012Validator:
    if schema not in _openai_components()["schemas"]:
        raise KeyError(f"the official OpenAI document has no schema {schema!r}")
    return jsonschema.Draft202012Validator({"$ref": f"{_OPENAI_URI}#/components/schemas/{schema}"},
                                           registry=_openai_registry())


def openai_errors(schema: str, obj: Any) -> list[str]:
    """Every violation of the official `components/schemas/<schema>` as `path: message`."""
    errors = sorted(openai_validator(schema).iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in errors]


def validate_openai(schema: str, obj: Any) -> None:
    """Raise AssertionError listing the violations of the official schema `schema`."""
    problems = openai_errors(schema, obj)
    if problems:
        raise AssertionError(f"official OpenAI {schema}: " + "; ".join(problems[:10]))
