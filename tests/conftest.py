"""Shared test helpers. Fixtures that users of topapi-kit get too live in mocks.pytest_plugin."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The seed guide and the official reference documents the tests check against: copies of
# ../shared's files (tests/data/shared), so that a clone anywhere runs the whole suite;
# test_shared_copies.py fails when they differ from ../shared where that is at hand.
SHARED_CHECKOUT = ROOT.parent / "shared"
SHARED = ROOT / "tests" / "data" / "shared"
SEED = SHARED / "seed" / "topapi-usage.zh.md"
REFERENCE = SHARED / "reference"

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers such as reference.py

# `server`, `client`, `http`: an OpenAI mock per test module; `demo`, `target`, `ctx`: the demo stack for the
# conformance tests (a module's own fixtures of those names win)
pytest_plugins = ["openai_mock_fixtures", "conformance_fixtures"]
