"""Validate objects against the named component schemas of our documents.

OpenAPI 3.1 schemas are JSON Schema 2020-12, so a document's components are
validated with jsonschema directly; `$ref`s resolve within and across our documents.
`is_valid` asks a compiled validator (jsonschema-rs, ~2 us for a chat request against
~500 us for jsonschema) first: the mocks check every request with it, and a mock that
spends half a millisecond per request is what a load test would measure. jsonschema
stays the source of the verdict where the two differ, and of every error message.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema
import jsonschema_rs
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from . import documents


class SchemaError(AssertionError):
    """An object does not match a schema; the message lists every violation."""


_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")


def _is_uri(value: object) -> bool:
    """An absolute URI (scheme ":" rest, no whitespace): `https://...`, `data:image/png;base64,...`."""
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


# jsonschema checks `uri` only when the optional rfc3987 package is installed; schemathesis always does,
# so without this a server validating with us accepts `"url": ""` that schemathesis sends as invalid data
FORMAT_CHECKER = jsonschema.FormatChecker(jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers)
FORMAT_CHECKER.checks("uri")(_is_uri)


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
        format_checker=FORMAT_CHECKER,
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


@functools.cache
def _compiled(name: str, schema: str) -> jsonschema_rs.Draft202012Validator:
    """The same schema compiled by jsonschema-rs. It checks `uri` and `date-time` formats, which
    jsonschema checks only with optional packages installed: where it refuses, jsonschema decides."""
    validator(name, schema)  # the same KeyError for an unknown schema
    registry = jsonschema_rs.Registry([(documents.path(n).as_uri(), documents.load(n)) for n in documents.names()])
    return jsonschema_rs.Draft202012Validator(
        {"$ref": f"{documents.path(name).as_uri()}#/components/schemas/{schema}"},
        registry=registry, validate_formats=True)


def is_valid(name: str, schema: str, instance: Any) -> bool:
    """jsonschema's verdict, in microseconds for a valid instance (the common case)."""
    return _compiled(name, schema).is_valid(instance) or validator(name, schema).is_valid(instance)
