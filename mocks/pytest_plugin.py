"""pytest fixtures (registered through the `pytest11` entry point of topapi-kit).

`mock_upstreams`: httpx (and the openai SDK) reach OpenAI/Sora/Gemini mocks in-process,
with no server and no network; yields the servers by name ("openai", "sora", "gemini").
"""

from __future__ import annotations

import pytest


@pytest.fixture
def mock_upstreams():
    from mocks.offline import mock_upstreams as _mock_upstreams

    with _mock_upstreams() as servers:
        yield servers
