"""`python -m load.bench.mockproc [--memo-validation] FLAGS...`: `topapi mock openai FLAGS...` for the benchmark.

Without `--memo-validation` this is exactly `topapi mock openai`. With it, the mock's request
schema check (`MockServer.check_request`, jsonschema over the OpenAPI document) runs once per
distinct valid body instead of on every request: measured with py-spy, that check is ~60% of
the mock's time per chat completion (2.3k req/s -> 6.5k req/s on one core), and a benchmark
whose upstream is the slowest process measures the upstream. Answers are byte for byte the
same (the check only raises; invalid bodies are never remembered, so they still get their 400).
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

MEMO_SIZE = 1024  # distinct bodies remembered; the benchmark sends two


def memoise_validation() -> None:
    from mocks.server import MockServer

    check = MockServer.check_request
    valid: set[tuple[str, bytes]] = set()

    def check_request(self: MockServer, body: Any, schema: str) -> None:
        key = (schema, orjson.dumps(body))
        if key in valid:
            return
        check(self, body, schema)  # raises on an invalid body
        if len(valid) < MEMO_SIZE:
            valid.add(key)

    MockServer.check_request = check_request  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--memo-validation"]:
        memoise_validation()
        argv = argv[1:]
    from topapi.cli import main as topapi_main

    return topapi_main(["mock", "openai", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
