"""tests/data/shared holds copies of ../shared's seed guide and reference documents (the tests
read those, so that a clone outside the workspace runs the whole suite): they must stay equal."""

from __future__ import annotations

import pytest
from conftest import SHARED, SHARED_CHECKOUT

COPIES = sorted(p.relative_to(SHARED) for p in SHARED.rglob("*") if p.is_file())


def test_the_copies_are_there() -> None:
    assert {str(p) for p in COPIES} >= {"seed/topapi-usage.zh.md", "reference/openai-openapi.yaml",
                                       "reference/gemini-generativelanguage-v1beta-openapi3-rev20241016.json"}


@pytest.mark.skipif(not SHARED_CHECKOUT.is_dir(), reason="../shared is not beside this checkout: nothing to compare")
@pytest.mark.parametrize("rel", COPIES, ids=str)
def test_copy_equals_the_shared_original(rel) -> None:
    original = SHARED_CHECKOUT / rel
    assert original.is_file(), f"{rel} is no longer in ../shared"
    assert (SHARED / rel).read_bytes() == original.read_bytes(), f"{rel} changed in ../shared: copy it again"
