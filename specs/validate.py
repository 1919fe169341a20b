"""Validate objects against the named component schemas of our documents.

OpenAPI 3.1 schemas are JSON Schema 2020-12, so a document's components are
validated with jsonschema directly; `$ref`s resolve within and across our documents.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from . import documents


class SchemaError(AssertionError):
    """An object does not match a schema; the message lists every violation."""


@functools.cache
def _registry() -> Registry:
    """Every shipped document under its file URI, so relative `$ref`s across documents
    (`openai.yaml#/components/schemas/ChatCompletion`) resolve."""
    return Registry().with_resources(
        (documents.path(n).as_uri(), Resource.from_contents(documents.load(n), default_specification=DRAFT202012))
        for n in documents.names())


@functools.cache
def validator(name: str, schema: str) -> jsonschema.Draft202012Validator:
    """A (cached) validator for `components/schemas/<schema>` of document `name`."""
    if schema not in documents.load(name).get("components", {}).get("schemas", {}):
        raise KeyError(f"document {name!r} has no schema {schema!r}")
    return jsonschema.Draft202012Validator(
        {"$ref": f"{documents.path(name).as_uri()}#/components/schemas/{schema}"},
        registry=_registry(),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def errors(name: str, schema: str, instance: Any) -> list[str]:
    """Every violation as `path: message`; empty when the instance is valid."""
    out = []
    for err in sorted(validator(name, schema).iter_errors(instance), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        out.append(f"{where}: {err.message}")
    return out


def validate(name: str, schema: str, instance: Any) -> None:
    """Raise SchemaError listing every violation of `instance` against the schema."""
    problems = errors(name, schema, instance)
    if problems:
        raise SchemaError(f"{name}#{schema}: " + "; ".join(problems[:20]))


def is_valid(name: str, schema: str, instance: Any) -> bool:
    return validator(name, schema).is_valid(instance)
