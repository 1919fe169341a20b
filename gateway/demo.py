"""`topapi serve --demo`: mock upstreams in-process, demo data seeded, `demo.json` written.

The only gateway module that imports `mocks`. Safe to run again on the same state dir:
accounts get the passwords in demo.json, nodes follow the mocks' new ports, and a fresh
key replaces the previous demo key (keys are stored hashed, so the old one cannot be shown).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from mocks.gemini_app import GeminiMock
from mocks.openai_app import OpenAIMock
from mocks.serving import ServerThread
from mocks.settings import Settings
from mocks.sora_app import SoraMock

from .config import GatewayConfig
from .security import new_password
from .store import accounts, catalog
from .store.db import Store

USER = "test101"
CONSOLES = {"user": "user", "node": "node_admin", "platform": "platform_admin"}  # console -> demo account
KEY_NAME = "demo"
# model -> (kind, price)
MODELS: dict[str, tuple[str, dict[str, float]]] = {
    "gpt-4.1-mini": ("chat", {"input_per_1k": 0.0004, "output_per_1k": 0.0016}),
    "gpt-image-1": ("image", {"per_image": 0.011}),
    "sora-2": ("video", {"per_second": 0.1}),
    "gemini-2.5-flash": ("gemini", {"input_per_1k": 0.0003, "output_per_1k": 0.0025}),
}
# node name -> (provider, mock class, weight, models); the two OpenAI nodes differ in weight
NODES: dict[str, tuple[str, type, int, tuple[str, ...]]] = {
    "openai-a": ("openai", OpenAIMock, 3, ("gpt-4.1-mini", "gpt-image-1")),
    "openai-b": ("openai", OpenAIMock, 1, ("gpt-4.1-mini", "gpt-image-1")),
    "gemini": ("gemini", GeminiMock, 1, ("gemini-2.5-flash",)),
    "sora": ("sora", SoraMock, 1, ("sora-2",)),
}


class DemoStack:
    def __init__(self, config: GatewayConfig, host: str = "127.0.0.1", port: int = 8080,
                 mock_settings: dict[str, Any] | None = None) -> None:
        self.config, self.host, self.port = config, host, port
        self.mock_settings = mock_settings or {}
        self.servers: dict[str, ServerThread] = {}
        self.info: dict[str, Any] = {}

    @property
    def path(self) -> Path:
        return Path(self.config.state_dir) / "demo.json"

    def start(self) -> dict[str, Any]:
        for name, (_, cls, _, _) in NODES.items():
            mock = cls(Settings(node_name=name).updated(self.mock_settings))
            self.servers[name] = ServerThread(mock, self.host).start()
        self.info = asyncio.run(self._seed())
        self.path.write_text(json.dumps(self.info, indent=2) + "\n")
        return self.info

    def stop(self) -> None:
        for srv in self.servers.values():
            srv.stop()

    def node_url(self, name: str) -> str:
        url = self.servers[name].url
        return url if NODES[name][0] == "gemini" else url + "/v1"

    async def _seed(self) -> dict[str, Any]:
        old = json.loads(self.path.read_text()) if self.path.exists() else {}
        old_accounts = old.get("accounts", {})

        def password(role: str) -> str:
            return old_accounts.get(role, {}).get("password") or new_password()

        logins = {"platform_admin": ("admin", password("platform_admin")),
                  "node_admin": ("nodeadmin", password("node_admin")),
                  "user": (USER, password("user"))}
        store = await Store.open(self.config.db_url, schema=self.config.database_schema)
        try:
            users = {}
            for role, (username, pw) in logins.items():
                users[role], _ = await accounts.ensure_user(store, username, pw, role=role, reset_password=True)
            for name, (kind, price) in MODELS.items():
                if await catalog.get_model_by_name(store, name) is None:
                    await catalog.create_model(store, name, kind, price=price, display_name=name, listed=True)
            for name, (provider, _, weight, served) in NODES.items():
                node = await catalog.get_node_by_name(store, name)
                changes = {"base_url": self.node_url(name), "enabled": True, "weight": weight,
                           "models": [{"model": m} for m in served]}
                if node is None:
                    await catalog.create_node(store, name, provider, changes["base_url"],
                                              api_key=f"sk-mock-{name}", weight=weight, priority=0,
                                              models=changes["models"])
                else:
                    await catalog.update_node(store, node["id"], changes)
            user_id = users["user"]["id"]
            for model in MODELS:
                await accounts.subscribe(store, user_id, model)
            keys, _ = await accounts.list_keys(store, user_id, limit=500)
            for k in keys:
                if k["name"] == KEY_NAME:
                    await accounts.delete_key(store, k["id"], user_id)
            _, api_key = await accounts.create_key(store, user_id, KEY_NAME)
        finally:
            await store.close()
        return {
            "base_url": f"http://{self.host}:{self.port}",
            "api_key": api_key,
            "accounts": {role: {"username": u, "password": pw} for role, (u, pw) in logins.items()},
            "mocks": {name: self.node_url(name) for name in NODES},
        }

    def print_ready(self) -> None:
        base, key = self.info["base_url"], self.info["api_key"]
        acc = self.info["accounts"]
        print(f"topapi demo gateway on {base}   (demo.json: {self.path})", flush=True)
        for role, a in acc.items():
            print(f"  {role:15s} {a['username']} / {a['password']}")
        print("Consoles (in a browser):")
        for console, role in CONSOLES.items():
            print(f"  {base}/console/{console + '/':10s} {acc[role]['username']} / {acc[role]['password']}")
        for name, url in self.info["mocks"].items():
            print(f"  mock {name:10s} {url}")
        print("Try:")
        print(f"  curl -s {base}/v1/models -H 'Authorization: {key}'")
        print(f"  curl -s {base}/v1/chat/completions -H 'Authorization: {key}' -H 'Content-Type: application/json' "
              "-d '{\"model\":\"gpt-4.1-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"帮我计算1+5等于多少\"}]}'")
        print(f"  curl -sN '{base}/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse' "
              f"-H 'x-goog-api-key: {key}' -H 'Content-Type: application/json' "
              "-d '{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Write a story about a magic backpack.\"}]}]}'",
              flush=True)
