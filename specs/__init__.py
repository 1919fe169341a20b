"""The wire contract of topapi-kit: OpenAPI documents, schema validation, SSE, error shapes.

This is the one place that knows the wire; mocks, gateway, conformance and load use it.
"""

from . import errors, sse
from .documents import OPENAPI_DIR, load, names, path, paths, schema_names
from .validate import SchemaError, is_valid, validate
from .validate import errors as schema_errors

__all__ = [
    "OPENAPI_DIR", "SchemaError", "errors", "is_valid", "load", "names", "path", "paths",
    "schema_errors", "schema_names", "sse", "validate",
]
