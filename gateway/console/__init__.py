"""The three consoles as web pages, served by the gateway itself: `/console/{user,node,platform}/`,
and `/` for a Host starting with `useradmin.`, `nodeadmin.` or `platformadmin.` (the guide's names).

The pages are static HTML, CSS and JavaScript shipped in this package (no build step, nothing
fetched from elsewhere); they call the same `/api` as every other client, with the session in an
HttpOnly cookie (gateway/admin/sessions.py). Every answer here carries a Content-Security-Policy
that allows this origin's scripts only: no inline script, no eval, no third-party anything.
"""

from __future__ import annotations

import html
import mimetypes
from dataclasses import dataclass
from importlib import resources

import orjson

from specs import seed

HOSTS = {"useradmin.": "user", "nodeadmin.": "node", "platformadmin.": "platform"}
STATIC = "/console/static/"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
# the guide's calls on the user console's Quick start page, in the guide's order
QUICK_START = ("get_model_list", "models", "chat", "responses_models", "responses", "gemini_models",
               "gemini_stream", "image_generation", "image_edit", "video_create", "video_retrieve", "video_content",
               "video_remix")


@dataclass(frozen=True)
class Console:
    name: str
    roles: tuple[str, ...]  # who may use it (the API enforces the same)
    scripts: tuple[str, ...]  # after i18n.js and core.js


CONSOLES = {
    "user": Console("user", ("user", "node_admin", "platform_admin"), ("user.js",)),
    "node": Console("node", ("node_admin", "platform_admin"), ("node.js",)),
    "platform": Console("platform", ("platform_admin",), ("charts.js", "platform.js")),
}


def console_for(path: str, host: str) -> str | None:
    """Which console page a GET of this path on this host shows, or None."""
    if path == "/":
        return next((name for prefix, name in HOSTS.items() if host.lower().startswith(prefix)), None)
    if path.startswith("/console/"):
        name = path[len("/console/"):].rstrip("/")
        return name if name in CONSOLES and path.endswith("/") else None
    return None


def wants(scope) -> bool:
    """Is this request for the pages? Cheap for relay paths: the Host is read only for `/`."""
    path = scope["path"]
    if path == "/console" or path.startswith("/console/"):
        return True
    if path != "/":
        return False
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
    return console_for(path, host) is not None


def _asset(name: str) -> bytes | None:
    if not name or "/" in name or name.startswith("."):
        return None
    try:
        return resources.files(__package__).joinpath("static", name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None


def _quick_start() -> bytes:
    """The guide's requests byte for byte (specs/seed.py), as JSON the page fills the base URL into."""
    calls = [{"name": r.name, "method": r.method, "path": r.path, "body": r.body}
             for r in (seed.BY_NAME[n] for n in QUICK_START)]
    # "</" cannot end the data block: JSON allows "<\/" for "</"
    return orjson.dumps({"calls": calls, "auth_header": seed.AUTH_HEADER}).replace(b"</", b"<\\/")


def page(name: str, accept_language: str = "") -> bytes:
    console = CONSOLES[name]
    template = resources.files(__package__).joinpath("templates", "console.html").read_text()
    lang = "zh-CN" if accept_language.lower().lstrip().startswith("zh") else "en"
    data = _quick_start().decode() if name == "user" else "{}"
    scripts = "\n".join(f'<script src="{STATIC}{html.escape(s)}" defer></script>' for s in console.scripts)
    return (template.replace("{{lang}}", lang).replace("{{console}}", html.escape(name))
            .replace("{{roles}}", html.escape(" ".join(console.roles)))
            .replace("{{scripts}}", scripts).replace("{{data}}", data)).encode()


def index_page() -> bytes:
    return resources.files(__package__).joinpath("templates", "index.html").read_bytes()


async def _send(send, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, bytes]] = ()) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
               *SECURITY_HEADERS, *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send) -> None:
    """ASGI: the pages and their assets (GET and HEAD only)."""
    path = scope["path"]
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    host = headers.get("host", "")
    if scope["method"] not in ("GET", "HEAD"):
        await _send(send, 405, b"method not allowed\n", "text/plain; charset=utf-8", [(b"allow", b"GET, HEAD")])
        return
    if path.startswith(STATIC):
        body = _asset(path[len(STATIC):])
        if body is None:
            await _send(send, 404, b"not found\n", "text/plain; charset=utf-8")
            return
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "image/svg+xml"):
            kind += "; charset=utf-8"
        await _send(send, 200, body, kind, [(b"cache-control", b"no-cache")])
        return
    name = console_for(path, host)
    if name is not None:
        await _send(send, 200, page(name, headers.get("accept-language", "")), "text/html; charset=utf-8",
                    [(b"cache-control", b"no-store")])
    elif path in ("/console", "/console/"):
        await _send(send, 200, index_page(), "text/html; charset=utf-8", [(b"cache-control", b"no-store")])
    elif path.rstrip("/") in (f"/console/{n}" for n in CONSOLES):
        await _send(send, 308, b"", "text/plain", [(b"location", (path.rstrip("/") + "/").encode())])
    else:
        await _send(send, 404, b"not found\n", "text/plain; charset=utf-8")
