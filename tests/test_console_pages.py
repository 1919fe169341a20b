"""The three consoles in a real browser (headless Chromium, tests/browser_support.py), on a gateway
that starts empty but for its platform admin, with one OpenAI mock as the upstream.

The guide's whole flow: the platform admin adds test101 (and a node admin); the node admin adds a
model and a node and tests it; test101 signs in, creates a key, enables it, subscribes to
gpt-4.1-mini in the market, copies the key; the key answers the guide's chat request, and the
Quick start page's own chat command works as copied. Plus: who may use which console, the key
shown once, hostile text rendered as text, both languages. Screenshots of every console in
both languages go to topapi-report/console-screenshots/.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from browser_support import Pages, browser, expect, screenshot  # noqa: F401  (fixture)

from gateway.app import Gateway
from gateway.config import GatewayConfig
from gateway.store import accounts
from gateway.store.db import Store
from mocks.openai_app import OpenAIMock
from mocks.serving import ServerThread
from mocks.settings import Settings
from specs import seed

pytestmark = pytest.mark.slow

ADMIN, ADMIN_PW = "admin", "platform admin password"
NODE_ADMIN, NODE_PW = "nodeadmin", "node admin password"
USER, USER_PW = "test101", "test101 password"
UPSTREAM_KEY = "sk-upstream-never-shown-0123456789"
MODEL = "gpt-4.1-mini"


@dataclass
class Site:
    base_url: str
    upstream_url: str
    gateway: Gateway
    server: ServerThread

    def flush_usage(self) -> None:
        asyncio.run_coroutine_threadsafe(self.gateway.usage.flush(), self.server.loop).result(30)

    def api(self, username: str, password: str) -> httpx.Client:
        token = httpx.post(f"{self.base_url}/api/auth/login", json={"username": username, "password": password}).json()["token"]
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


async def _seed_admin(config: GatewayConfig) -> None:
    store = await Store.open(config.db_url)
    try:
        await accounts.ensure_admin(store, ADMIN, ADMIN_PW)
    finally:
        await store.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    upstream = ServerThread(OpenAIMock(Settings(node_name="upstream"))).start()
    config = GatewayConfig(state_dir=tmp_path_factory.mktemp("console"))
    # on a thread of its own: Playwright's sync API keeps an event loop running on this one
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _seed_admin(config)).result()
    gateway = Gateway(config)
    server = ServerThread(gateway, lifespan="on").start()
    try:
        yield Site(server.url, upstream.url + "/v1", gateway, server)
    finally:
        server.stop()
        upstream.stop()


def dialog(page):
    return page.locator("dialog[open]")


# ------------------------------------------------------------------ the guide's flow

def test_the_guides_flow_through_the_three_consoles(browser, site: Site) -> None:  # noqa: F811
    # 1. the platform admin adds the node admin and test101 (管理员后台)
    admin = Pages(browser, site.base_url)
    page = admin.login("platform", ADMIN, ADMIN_PW)
    for username, password, role in ((NODE_ADMIN, NODE_PW, "Node admin"), (USER, USER_PW, "User")):
        page.get_by_role("button", name="Add user").click()
        form = dialog(page)
        form.get_by_label("Username").fill(username)
        form.get_by_label("Initial password").fill(password)
        form.get_by_label("Role").select_option(label=role)
        form.get_by_label("Quota ($)").fill("10")
        form.get_by_role("button", name="Add", exact=True).click()
        page.locator(f"tr[data-user='{username}']").wait_for()
    row = page.locator(f"tr[data-user='{USER}']")
    assert "User" in row.inner_text() and "$10.00" in row.inner_text()
    page.get_by_label("Search users").fill("101")
    page.get_by_role("button", name="Search").click()
    # (expect, not wait_for_function: the pages' CSP forbids the eval a string predicate needs)
    expect(page.locator("tbody tr")).to_have_count(1)
    screenshot(page, "platform-users-en")

    # 2. the node admin adds the model and a node serving it, and tests the node (节点后台)
    nodes = Pages(browser, site.base_url)
    page = nodes.login("node", NODE_ADMIN, NODE_PW)
    page.get_by_role("link", name="Models").click()
    page.get_by_role("button", name="Add model").click()
    form = dialog(page)
    form.get_by_label("Model name").fill(MODEL)
    form.get_by_label("Kind").select_option("chat")
    form.get_by_label("Input price ($ / 1K tokens)").fill("0.0004")
    form.get_by_label("Output price ($ / 1K tokens)").fill("0.0016")
    assert form.get_by_label("Listed in the market").is_checked()
    form.get_by_role("button", name="Add", exact=True).click()
    page.get_by_role("cell", name=MODEL).wait_for()
    page.get_by_role("link", name="Nodes").click()
    page.get_by_role("button", name="Add node").click()
    form = dialog(page)
    form.get_by_label("Name", exact=True).fill("openai-main")
    form.get_by_label("Provider").select_option("openai")
    form.get_by_label("Base URL").fill(site.upstream_url)
    form.get_by_label("Upstream API key").fill(UPSTREAM_KEY)
    form.get_by_label("Weight").fill("3")
    form.get_by_label("Served models").fill(f"{MODEL}\ngpt-4o = gpt-4o-2024-08-06")
    form.get_by_role("button", name="Add", exact=True).click()
    row = page.locator("tr[data-node='openai-main']")
    row.wait_for()
    assert "gpt-4o → gpt-4o-2024-08-06" in row.inner_text() and "Healthy" in row.inner_text()
    row.get_by_role("button", name="Test").click()
    assert "The upstream answered" in dialog(page).inner_text()
    dialog(page).get_by_role("button", name="Close").click()
    row.get_by_role("button", name="Edit").click()  # the edit form never holds the upstream key
    assert dialog(page).get_by_label("Upstream API key").input_value() == ""
    assert UPSTREAM_KEY not in page.content()
    dialog(page).get_by_role("button", name="Close").click()
    screenshot(page, "node-nodes-en")

    # 3. test101 signs in, adds a key and enables it, subscribes in the market (用户后台)
    user = Pages(browser, site.base_url)
    page = user.login("user", USER, USER_PW)
    page.get_by_role("button", name="Create key").click()
    form = dialog(page)
    form.get_by_label("Name").fill("my-app")
    form.get_by_label("Enabled").uncheck()
    form.get_by_role("button", name="Create", exact=True).click()
    shown = page.get_by_label("API key", exact=True)
    key = shown.input_value()
    assert re.fullmatch(r"sk-tk-[A-Za-z0-9_-]{40}", key), key
    assert "only time" in dialog(page).inner_text()
    dialog(page).get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == key
    screenshot(page, "user-new-key-en")
    dialog(page).get_by_role("button", name="Close").click()
    row = page.get_by_role("row", name=re.compile("my-app"))
    assert "Disabled" in row.inner_text()
    row.get_by_role("button", name="Enable").click()
    page.get_by_role("row", name=re.compile("my-app.*Enabled")).wait_for()
    page.reload()
    page.get_by_role("row", name=re.compile("my-app")).wait_for()
    assert key not in page.content()  # shown once: the list has its prefix only

    page.get_by_role("link", name="Model market").click()
    page.get_by_role("button", name=f"Subscribe {MODEL}").click()
    page.get_by_role("button", name=f"Unsubscribe {MODEL}").wait_for()

    # 4. the key answers the guide's chat request, byte for byte
    r = httpx.post(site.base_url + seed.CHAT.path, content=seed.CHAT.body.encode(),
                   headers={seed.AUTH_HEADER: key, "Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"]
    r = httpx.post(site.base_url + seed.GET_MODEL_LIST.path, headers={seed.AUTH_HEADER: key}, timeout=30)
    assert MODEL in r.text

    # 5. the Quick start's chat command, as copied, with the key put in
    page.get_by_role("link", name="Quick start").click()
    snippet = page.locator("#qs-chat")
    command = snippet.locator("pre").inner_text()
    assert site.base_url + "/v1/chat/completions" in command and "YOUR_API_KEY" in command
    snippet.get_by_role("button", name=re.compile("Copy")).click()
    assert page.evaluate("navigator.clipboard.readText()") == command
    if shutil.which("curl"):
        out = subprocess.run(["bash", "-c", command.replace("YOUR_API_KEY", key)], capture_output=True, text=True,
                             timeout=60)
        assert '"chat.completion"' in out.stdout, (out.stdout, out.stderr)
    screenshot(page, "user-quickstart-en")

    # 6. the requests show in the user's usage and in the platform's usage with charts and CSV
    site.flush_usage()
    page.get_by_role("link", name="Usage").click()
    page.locator(".stat-value").first.wait_for()
    assert page.locator(".stat").first.inner_text().split("\n")[1] != "0"
    assert "$10.00" in page.locator(".stat").nth(3).inner_text()
    screenshot(page, "user-usage-en")
    page.get_by_role("link", name="Model market").click()
    page.get_by_role("button", name=f"Unsubscribe {MODEL}").wait_for()
    screenshot(page, "user-market-en")

    page = admin.page
    page.get_by_role("link", name="Usage").click()
    page.get_by_label("User", exact=True).fill(USER)
    page.get_by_role("button", name="Apply").click()
    page.locator("figure.chart-box").first.wait_for()
    assert page.locator("figure.chart-box").count() == 4
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.startswith("time,request_id,") and text.count("\n") >= 3
    screenshot(page, "platform-usage-en")

    for pages in (admin, nodes, user):
        assert UPSTREAM_KEY not in pages.page.content()
        pages.close()


# ------------------------------------------------------------------ independent of the flow (xdist may split the module)

def catalog_ready(site: Site) -> None:
    """The model and a node serving it, through the API (whether or not the flow test ran here)."""
    with site.api(ADMIN, ADMIN_PW) as api:
        api.post("/api/node/models", json={"name": MODEL, "kind": "chat", "listed": True,
                                           "price": {"input_per_1k": 0.0004, "output_per_1k": 0.0016}})
        api.post("/api/node/nodes", json={"name": "openai-main", "provider": "openai", "base_url": site.upstream_url,
                                          "api_key": UPSTREAM_KEY, "models": [MODEL]})
        # more of the guide's models, for fuller pages (no node serves them here)
        api.post("/api/node/models", json={"name": "gpt-image-1", "kind": "image", "listed": True,
                                           "display_name": "GPT Image 1", "price": {"per_image": 0.011}})
        api.post("/api/node/models", json={"name": "sora-2", "kind": "video", "listed": True,
                                           "description": "Sora 2 video generation", "price": {"per_second": 0.1}})


def new_user(site: Site, username: str, *, key_name: str = "app", subscribe: bool = True) -> str:
    """A user made through the API, with a key (and a subscription): the key."""
    with site.api(ADMIN, ADMIN_PW) as api:
        r = api.post("/api/platform/users", json={"username": username, "password": USER_PW, "quota": 5})
        assert r.status_code == 201, r.text
    with site.api(username, USER_PW) as me:
        key = me.post("/api/user/keys", json={"name": key_name}).json()["key"]
        if subscribe:
            assert me.post("/api/user/subscriptions", json={"model": MODEL}).status_code in (200, 201)
    return key


def test_each_role_gets_only_its_consoles(browser, site: Site) -> None:  # noqa: F811
    new_user(site, "eve", subscribe=False)
    with site.api(ADMIN, ADMIN_PW) as api:
        api.post("/api/platform/users", json={"username": "nodeops", "password": NODE_PW, "role": "node_admin"})
    eve = Pages(browser, site.base_url)
    page = eve.login("node", "eve", USER_PW)
    denied = page.get_by_role("alert")
    assert "This console is not for your account" in denied.inner_text() and "User" in denied.inner_text()
    assert page.locator("header.top").count() == 0  # nothing of the console is drawn
    page.goto("/console/platform/")  # same session, the other admin console
    assert "not for your account" in page.get_by_role("alert").inner_text()
    status = page.evaluate("fetch('/api/platform/users').then(r => r.status)")
    assert status == 403  # and the API refuses it too
    page.get_by_role("link", name="User console").click()
    page.get_by_role("link", name="API keys").wait_for()
    page.get_by_role("button", name="Change password").click()  # every console has it
    dialog(page).get_by_label("New password").fill("eve's new password")
    dialog(page).get_by_role("button", name="Save").click()
    page.get_by_text("Password changed.").wait_for()
    r = httpx.post(f"{site.base_url}/api/auth/login", json={"username": "eve", "password": "eve's new password"})
    assert r.status_code == 200
    page.reload()
    page.get_by_role("link", name="API keys").wait_for()  # this session stays
    eve.close()

    ops = Pages(browser, site.base_url)
    page = ops.login("platform", "nodeops", NODE_PW)
    assert "not for your account" in page.get_by_role("alert").inner_text()
    page.goto("/console/node/")
    page.get_by_role("button", name="Add node").wait_for()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for()
    assert page.evaluate("fetch('/api/user/me').then(r => r.status)") == 401
    ops.close()


HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def test_hostile_text_renders_as_text(browser, site: Site) -> None:  # noqa: F811
    catalog_ready(site)
    new_user(site, "mallory", key_name=HOSTILE)
    with site.api(ADMIN, ADMIN_PW) as api:
        r = api.post("/api/node/models", json={"name": "evil-model", "kind": "chat", "listed": True, "price": {},
                                               "display_name": HOSTILE, "description": HOSTILE})
        assert r.status_code == 201, r.text
    mallory = Pages(browser, site.base_url)
    page = mallory.login("user", "mallory", USER_PW)
    page.get_by_role("cell", name=HOSTILE).wait_for()  # the key's name, as typed
    page.get_by_role("link", name="Model market").click()
    card = page.locator("article.model-card", has_text="evil-model")
    assert card.inner_text().count(HOSTILE) == 2  # display name and description
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.__pwned") is None
    mallory.close()

    admin = Pages(browser, site.base_url)
    page = admin.login("platform", ADMIN, ADMIN_PW)
    page.get_by_role("button", name="Add user").click()
    form = dialog(page)
    form.get_by_label("Username").fill("<script>")
    form.get_by_label("Initial password").fill("a long enough password")
    form.get_by_role("button", name="Add", exact=True).click()
    toast = page.locator(".toast.error")
    assert "username" in toast.inner_text()  # the API's 400, shown as text
    assert page.evaluate("window.__pwned") is None
    admin.close()
    with site.api(ADMIN, ADMIN_PW) as api:  # out of the other tests' screenshots
        evil = next(m for m in api.get("/api/node/models").json()["data"] if m["name"] == "evil-model")
        assert api.delete(f"/api/node/models/{evil['id']}").status_code == 204


def test_both_languages_and_the_switch(browser, site: Site) -> None:  # noqa: F811
    catalog_ready(site)
    key = new_user(site, "zhang")
    for _ in range(3):  # some usage for the charts and totals
        httpx.post(site.base_url + seed.CHAT.path, content=seed.CHAT.body.encode(), headers={seed.AUTH_HEADER: key},
                   timeout=30)
    site.flush_usage()

    zh = Pages(browser, site.base_url, locale="zh-CN")
    page = zh.page
    page.goto("/console/user/")
    expect(page.get_by_role("heading", name="登录用户后台")).to_be_visible()
    missing = page.evaluate("[Object.keys(I18N.en).filter(k => !(k in I18N['zh-CN'])),"
                            " Object.keys(I18N['zh-CN']).filter(k => !(k in I18N.en))]")
    assert missing == [[], []], missing
    zh.login("user", "zhang", USER_PW, username_label="用户名", password_label="密码", submit="登录")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    for tab in ("令牌管理", "模型市场", "用量", "快速开始"):
        expect(page.get_by_role("link", name=tab)).to_be_visible()
    page.get_by_role("button", name="添加令牌").wait_for()
    screenshot(page, "user-zh-CN")
    page.get_by_role("link", name="模型市场").click()
    page.get_by_role("button", name=f"取消订阅 {MODEL}").wait_for()
    screenshot(page, "user-market-zh-CN")
    page.get_by_role("link", name="用量").click()
    page.get_by_text("剩余额度").wait_for()
    screenshot(page, "user-usage-zh-CN")
    page.get_by_label("语言").select_option("en")  # the switch, on every page
    page.get_by_role("link", name="API keys").wait_for()
    page.reload()
    page.get_by_role("link", name="API keys").wait_for()  # the choice is kept
    assert page.evaluate("document.documentElement.lang") == "en"
    screenshot(page, "user-usage-en")
    page.get_by_label("Language").select_option("zh-CN")
    page.get_by_role("link", name="令牌管理").wait_for()
    zh.close()

    for console, heading, tab in (("node", "节点", "模型"), ("platform", "用户", "用量")):
        pages = Pages(browser, site.base_url, locale="zh-CN")
        page = pages.login(console, ADMIN, ADMIN_PW, username_label="用户名", password_label="密码", submit="登录")
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        page.locator("tbody tr").first.wait_for()
        screenshot(page, f"{console}-zh-CN")
        page.get_by_role("link", name=tab, exact=True).click()
        page.locator("main .card").first.wait_for()
        page.wait_for_timeout(300)
        screenshot(page, f"{console}-{'models' if console == 'node' else 'usage'}-zh-CN")
        pages.close()

    en = Pages(browser, site.base_url, locale="en-US")  # an English browser gets English
    page = en.page
    page.goto("/console/platform/")
    expect(page.get_by_role("heading", name="Sign in to the Platform console")).to_be_visible()
    screenshot(page, "login-en")
    en.close()
