"""Validate objects against the named component schemas of our documents.

OpenAPI 3.1 schemas are JSON Schema 2020-12, so a document's components are
validated with jsonschema directly; `$ref`s resolve inside the same document.
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
def _registry(name: str) -> tuple[Registry, str]:
    uri = f"urn:topapi:specs:{name}"
    resource = Resource.from_contents(documents.load(name), default_specification=DRAFT202012)
    return Registry().with_resource(uri, resource), uri


@functools.cache
def validator(name: str, schema: str) -> jsonschema.Draft202012Validator:
    """A (cached) validator for `components/schemas/<schema>` of document `name`."""
    if schema not in documents.load(name).get("components", {}).get("schemas", {}):
        raise KeyError(f"document {name!r} has no schema {schema!r}")
    registry, uri = _registry(name)
    return jsonschema.Draft202012Validator(
        {"$ref": f"{uri}#/components/schemas/{schema}"},
        registry=registry,
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
