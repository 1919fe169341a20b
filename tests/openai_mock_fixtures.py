"""One OpenAI mock on a loopback port per test module, with an SDK client and an httpx client.

Registered for every test module by conftest.py (`pytest_plugins`); a module may define its own.
"""

from __future__ import annotations

import httpx
import pytest
from openai import OpenAI

from mocks.openai_app import OpenAIMock
from mocks.serving import ServerThread

KEY = {"authorization": "Bearer test-key"}


@pytest.fixture(scope="module")
def server():
    with ServerThread(OpenAIMock()) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server) -> OpenAI:
    return OpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0)


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=10, headers=KEY) as c:
        yield c
