"""specs.is_valid asks a compiled validator (jsonschema-rs) first: it must never accept what
jsonschema refuses, or the mocks would let through requests they used to answer with a 400."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from specs import seed
from specs.validate import _compiled, is_valid, validator

BODIES = {  # (document, request schema) -> valid bodies to mutate
    ("openai", "CreateChatCompletionRequest"): [
        seed.CHAT.json(),
        {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
         "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 5, "n": 2, "stop": ["x"],
         "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
         "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {}}}},
    ],
    ("openai", "CreateResponseRequest"): [seed.RESPONSES.json(), seed.RESPONSES_TOOL_CALL.json(),
                                          seed.RESPONSES_MULTIMODAL.json()],
    ("gemini", "GenerateContentRequest"): [seed.GEMINI_STREAM.json()],
    ("openai", "CreateImageRequest"): [seed.IMAGE_GENERATION.json()],
}
ODD_VALUES: list[Any] = [None, "x", "", 12345, -1, 1.5, True, [], [1], {}, {"x": 1}]


def mutations(body: dict[str, Any]) -> list[Any]:
    """The body, each field removed or replaced by odd values, one level deep into lists of objects."""
    out: list[Any] = [body, {}, [], "text", None]
    for key, value in body.items():
        out.append({k: v for k, v in body.items() if k != key})
        out += [{**body, key: odd} for odd in ODD_VALUES]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for inner in value[0]:
                for odd in ODD_VALUES:
                    changed = copy.deepcopy(body)
                    changed[key][0][inner] = odd
                    out.append(changed)
    out.append({**body, "unknown_field_xyz": 1})
    return out


@pytest.mark.parametrize(("doc", "schema"), list(BODIES))
def test_compiled_never_accepts_what_jsonschema_refuses(doc: str, schema: str) -> None:
    checked = refused = 0
    for body in BODIES[(doc, schema)]:
        assert validator(doc, schema).is_valid(body), body
        for case in mutations(body):
            fast, slow = _compiled(doc, schema).is_valid(case), validator(doc, schema).is_valid(case)
            assert not (fast and not slow), f"compiled accepts what jsonschema refuses: {case}"
            assert is_valid(doc, schema, case) == slow
            checked += 1
            refused += not slow
    assert checked > 50 and refused > 10  # the mutations do reach refusals
