"""How the gateway serves the console pages (no browser needed): paths and the guide's host names,
security headers, the packaged assets, and the Quick start data taken from specs/seed.py."""

from __future__ import annotations

import json
import re
from importlib import resources

import httpx
import pytest

from gateway import console
from specs import seed

PAGES = {"user": "user.js", "node": "node.js", "platform": "platform.js"}


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=console.app), base_url="http://gw.test") as c:
        yield c


def scope(path: str, host: str) -> dict:
    return {"type": "http", "path": path, "headers": [(b"host", host.encode())]}


@pytest.mark.parametrize(("path", "host", "wanted"), [
    ("/console/user/", "gw.test", True), ("/console", "gw.test", True), ("/console/static/core.js", "x", True),
    ("/", "useradmin.example.com", True), ("/", "NodeAdmin.example.com:8080", True),
    ("/", "platformadmin.example.com", True), ("/", "api.example.com", False), ("/", "", False),
    ("/v1/chat/completions", "useradmin.example.com", False), ("/consoles", "gw.test", False),
])
def test_which_requests_are_pages(path: str, host: str, wanted: bool) -> None:
    assert console.wants(scope(path, host)) is wanted


@pytest.mark.parametrize("name", PAGES)
async def test_each_console_page(client: httpx.AsyncClient, name: str) -> None:
    r = await client.get(f"/console/{name}/")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
    assert f'data-console="{name}"' in r.text and f'src="/console/static/{PAGES[name]}"' in r.text
    # no inline script: every <script> either has a src or is a JSON data block
    for tag in re.findall(r"<script[^>]*>", r.text):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"https?://", r.text.split("console-data")[0])  # nothing fetched from elsewhere


@pytest.mark.parametrize(("host", "name"), [("useradmin.topapi.test", "user"), ("nodeadmin.topapi.test", "node"),
                                            ("platformadmin.topapi.test", "platform")])
async def test_the_guides_host_names_get_their_console_at_the_root(client: httpx.AsyncClient, host: str,
                                                                   name: str) -> None:
    r = await client.get("/", headers={"Host": host})
    assert r.status_code == 200 and f'data-console="{name}"' in r.text


async def test_language_follows_accept_language(client: httpx.AsyncClient) -> None:
    r = await client.get("/console/user/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-CN"' in r.text
    r = await client.get("/console/user/", headers={"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"})
    assert '<html lang="en"' in r.text


async def test_quick_start_data_is_the_guides_requests(client: httpx.AsyncClient) -> None:
    text = (await client.get("/console/user/")).text
    data = json.loads(re.search(r'<script type="application/json" id="console-data">(.*?)</script>', text, re.S)[1])
    assert data["auth_header"] == seed.AUTH_HEADER
    assert [c["name"] for c in data["calls"]] == list(console.QUICK_START)
    for call in data["calls"]:
        request = seed.BY_NAME[call["name"]]
        assert (call["method"], call["path"], call["body"]) == (request.method, request.path, request.body)
    assert {"get_model_list", "chat", "responses", "gemini_stream", "image_generation", "video_create"} <= set(
        console.QUICK_START)


async def test_assets_redirects_and_refusals(client: httpx.AsyncClient) -> None:
    for name in ("core.js", "i18n.js", "charts.js", "console.css", "favicon.svg", *PAGES.values()):
        r = await client.get(f"/console/static/{name}")
        assert r.status_code == 200 and r.content == resources.files("gateway.console").joinpath("static", name).read_bytes()
    assert (await client.get("/console/static/core.js")).headers["content-type"].endswith("javascript; charset=utf-8")
    for bad in ("../__init__.py", "..%2f__init__.py", ".hidden", "nope.js", ""):
        assert (await client.get(f"/console/static/{bad}")).status_code == 404
    r = await client.get("/console/node")
    assert r.status_code == 308 and r.headers["location"] == "/console/node/"
    assert (await client.get("/console/")).status_code == 200  # the index of the three
    assert (await client.get("/console/other/")).status_code == 404
    r = await client.post("/console/user/")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    assert (await client.head("/console/user/")).status_code == 200


def test_no_script_writes_html() -> None:
    """User text reaches the page as text: the scripts never parse strings as HTML."""
    for name in ("core.js", "user.js", "node.js", "platform.js", "i18n.js", "charts.js"):
        source = resources.files("gateway.console").joinpath("static", name).read_text()
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", source), name


def test_serve_demo_prints_the_three_consoles_with_their_accounts(tmp_path, capsys) -> None:
    from gateway.config import GatewayConfig
    from gateway.demo import DemoStack

    demo = DemoStack(GatewayConfig(state_dir=tmp_path), port=8080)
    demo.info = {"base_url": "http://127.0.0.1:8080", "api_key": "sk-tk-x", "mocks": {},
                 "accounts": {"platform_admin": {"username": "admin", "password": "pa"},
                              "node_admin": {"username": "nodeadmin", "password": "pn"},
                              "user": {"username": "test101", "password": "pu"}}}
    demo.print_ready()
    out = capsys.readouterr().out
    for line in ("http://127.0.0.1:8080/console/user/      test101 / pu",
                 "http://127.0.0.1:8080/console/node/      nodeadmin / pn",
                 "http://127.0.0.1:8080/console/platform/  admin / pa"):
        assert line in out, out
