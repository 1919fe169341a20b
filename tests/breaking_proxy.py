"""A reverse proxy that breaks a gateway on purpose, one named way at a time (issue 4: the checks can fail).

`BreakingProxy(upstream, good_key)` is an ASGI app (serve it with `mocks.serving.ServerThread(proxy,
lifespan="on")`). It relays every request to `upstream` faithfully, SSE event by event, until
`proxy.use(name)` selects one of `BREAKS`; `proxy.use(None)` makes it faithful again. A break is one hook:

- `request`: changes the request before it is sent (e.g. swaps a wrong key for the good one);
- `head`: changes the status and headers of every answer (e.g. a 400 becomes a 500);
- `answer`: changes a whole answer that is not SSE (e.g. a video status, an image's bytes);
- `stream`: an async generator over the raw SSE events of a stream (drop, add, rewrite, hold back).

Per-break state that outlives one request (e.g. how often a video was polled) lives in `req.state`,
emptied by every `use()`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson

from specs import sse

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "accept-encoding", "te",
              "upgrade", "proxy-connection"}
EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
KEY_HEADERS = ("authorization", "x-api-key", "x-goog-api-key")
# a partial MP4: an ftyp box and the start of an mdat, as a relay might pass through while the job renders
PARTIAL_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x10\x00mdat" + b"\x00" * 1500
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
TRACEBACK = ('\nTraceback (most recent call last):\n  File "/srv/gateway/relay/http.py", line 88, in body\n'
             "    return orjson.loads(raw)\norjson.JSONDecodeError: unexpected end of data")


@dataclass
class Req:
    """The request as the proxy forwards it (hooks may change any field)."""

    method: str
    path: str  # as sent, e.g. //v1/images/edits
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]  # names lower-case
    body: bytes
    good_key: str
    state: dict[str, Any]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    @property
    def is_chat(self) -> bool:
        return self.path.endswith("/chat/completions")

    @property
    def is_responses(self) -> bool:
        return self.path.endswith("/responses")

    @property
    def is_gemini(self) -> bool:
        return self.path.lstrip("/").startswith(("gemini/", "v1beta/"))

    @property
    def is_console(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def is_video(self) -> bool:
        return self.path.lstrip("/").startswith("v1/videos")


@dataclass
class Answer:
    """An answer on its way back: status and headers always; `body` only for `answer` hooks."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers if k == "content-type"), "")

    def set_header(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k != name] + [(name, value)]

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    def set_json(self, obj: Any) -> None:
        self.body = orjson.dumps(obj)
        self.set_header("content-type", "application/json")


Stream = Callable[[Req, AsyncIterator[bytes]], AsyncIterator[bytes]]


@dataclass(frozen=True)
class Break:
    name: str
    description: str
    request: Callable[[Req], None] | None = None
    head: Callable[[Req, Answer], None] | None = None
    answer: Callable[[Req, Answer], None] | None = None
    stream: Stream | None = None


BREAKS: dict[str, Break] = {}


def breaks(name: str, description: str, hook: str) -> Callable[[Callable], Callable]:
    def register(func: Callable) -> Callable:
        BREAKS[name] = Break(name, description, **{hook: func})
        return func

    return register


# -- SSE events as raw blocks ------------------------------------------------------------------------------------------
def event_of(block: bytes) -> sse.Event | None:
    events = sse.parse(block)
    return events[0] if events else None


def json_of(block: bytes) -> Any:
    ev = event_of(block)
    if ev is None or ev.is_done:
        return None
    try:
        return ev.json()
    except orjson.JSONDecodeError:
        return None


def is_done(block: bytes) -> bool:
    ev = event_of(block)
    return ev is not None and ev.is_done


def rebuilt(block: bytes, obj: Any) -> bytes:
    """The same event (name, line endings) with a new JSON payload."""
    ev = event_of(block)
    return sse.encode(obj, ev.event if ev else None, crlf=block.endswith(b"\r\n"))


# -- the breaks --------------------------------------------------------------------------------------------------------
@breaks("drop_done", "chat streams lose their closing `data: [DONE]`", "stream")
async def drop_done(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for b in blocks:
        if not (req.is_chat and is_done(b)):
            yield b


@breaks("buffer_stream", "every stream is held back and sent in one piece when it ends", "stream")
async def buffer_stream(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield b"".join([b async for b in blocks])


@breaks("buffer_gemini", "Gemini streams (only) are held back and sent in one piece when they end", "stream")
async def buffer_gemini(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if not req.is_gemini:
        async for b in blocks:
            yield b
        return
    yield b"".join([b async for b in blocks])


@breaks("stream_content_type", "streams are labelled application/json instead of text/event-stream", "head")
def stream_content_type(req: Req, ans: Answer) -> None:
    if ans.content_type.startswith(sse.MEDIA_TYPE):
        ans.set_header("content-type", "application/json")


@breaks("usage_unasked", "chat streams get a usage-only chunk although the client did not ask for it", "stream")
async def usage_unasked(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    asked = ((req.json() or {}).get("stream_options") or {}).get("include_usage")
    last: dict[str, Any] | None = None
    async for b in blocks:
        if req.is_chat and not asked and is_done(b) and last is not None:
            usage = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}
            yield rebuilt(b"data: {}\n\n", {**last, "choices": [], "usage": usage})
        obj = json_of(b)
        if isinstance(obj, dict) and "choices" in obj:
            last = obj
        yield b


@breaks("usage_dropped", "chat streams lose the usage chunk the client asked for with include_usage", "stream")
async def usage_dropped(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for b in blocks:
        obj = json_of(b)
        if req.is_chat and isinstance(obj, dict) and obj.get("choices") == [] and obj.get("usage"):
            continue
        yield b


@breaks("tool_call_repeats", "later tool-call deltas repeat the call's id and function name", "stream")
async def tool_call_repeats(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    first: dict[int, dict[str, Any]] = {}
    async for b in blocks:
        obj = json_of(b)
        changed = False
        choices = obj.get("choices") or [] if req.is_chat and isinstance(obj, dict) else []
        for choice in choices:
            for d in (choice.get("delta") or {}).get("tool_calls") or []:
                seen = first.setdefault(d["index"], {"id": d.get("id"), "name": (d.get("function") or {}).get("name")})
                if not d.get("id"):
                    d["id"] = seen["id"]
                    d.setdefault("function", {})["name"] = seen["name"]
                    changed = True
        yield rebuilt(b, obj) if changed else b


@breaks("sequence_duplicate", "Responses events from the fourth on repeat the previous sequence_number", "stream")
async def sequence_duplicate(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for b in blocks:
        obj = json_of(b)
        if req.is_responses and isinstance(obj, dict) and obj.get("sequence_number", 0) >= 3:
            obj["sequence_number"] -= 1
            b = rebuilt(b, obj)
        yield b


@breaks("responses_done", "Responses streams end with a chat-style `data: [DONE]`", "stream")
async def responses_done(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for b in blocks:
        yield b
    if req.is_responses:
        yield sse.encode_done()


@breaks("gemini_done", "Gemini SSE streams end with a chat-style `data: [DONE]`", "stream")
async def gemini_done(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for b in blocks:
        yield b
    if req.is_gemini:
        yield b"data: [DONE]\r\n\r\n"


@breaks("gemini_early_finish", "the first event of a Gemini stream already carries finishReason STOP", "stream")
async def gemini_early_finish(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    first = True
    async for b in blocks:
        obj = json_of(b)
        if req.is_gemini and first and isinstance(obj, dict) and obj.get("candidates"):
            obj["candidates"][0]["finishReason"] = "STOP"
            b, first = rebuilt(b, obj), False
        yield b


@breaks("gemini_no_usage", "Gemini streams lose usageMetadata (the last event has none)", "stream")
async def gemini_no_usage(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for b in blocks:
        obj = json_of(b)
        if req.is_gemini and isinstance(obj, dict) and "usageMetadata" in obj:
            del obj["usageMetadata"]
            b = rebuilt(b, obj)
        yield b


@breaks("accept_any_key", "any key (wrong, or of a user not subscribed to the model) is swapped for the good one",
        "request")
def accept_any_key(req: Req) -> None:
    if req.is_console:
        return  # console session tokens are not API keys
    def good(value: str) -> str:
        if value.lower().startswith("bearer "):
            return "Bearer " + req.good_key
        return req.good_key

    req.headers = [(k, good(v) if k in KEY_HEADERS and v else v) for k, v in req.headers]
    req.query = [(k, req.good_key if k == "key" else v) for k, v in req.query]


@breaks("missing_key_default", "a request without any key is sent with the good key (a default account)", "request")
def missing_key_default(req: Req) -> None:
    if not any(k in KEY_HEADERS for k, _ in req.headers) and not any(k == "key" for k, _ in req.query):
        req.headers.append(("authorization", "Bearer " + req.good_key))


@breaks("html_fallback", "unknown routes get the console's HTML page with 200 (a web-app fallback route)", "answer")
def html_fallback(req: Req, ans: Answer) -> None:
    if ans.status == 404:
        ans.status, ans.body = 200, b"<!doctype html><html><head><title>Console</title></head><body></body></html>"
        ans.set_header("content-type", "text/html; charset=utf-8")


@breaks("bad_input_500", "every 400 refusal becomes a 500 (body kept)", "head")
def bad_input_500(req: Req, ans: Answer) -> None:
    if ans.status == 400:
        ans.status = 500


@breaks("error_fields_stripped", "error bodies lose fields: OpenAI param and code, Gemini status", "answer")
def error_fields_stripped(req: Req, ans: Answer) -> None:
    obj = ans.json()
    if ans.status >= 400 and isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        for name in ("status",) if req.is_gemini else ("param", "code"):
            obj["error"].pop(name, None)
        ans.set_json(obj)


@breaks("gemini_errors_openai_shaped", "Gemini routes refuse with OpenAI-shaped errors", "answer")
def gemini_errors_openai_shaped(req: Req, ans: Answer) -> None:
    obj = ans.json()
    if req.is_gemini and ans.status >= 400 and isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        ans.set_json({"error": {"message": obj["error"].get("message", ""), "type": "invalid_request_error",
                                "param": None, "code": None}})


@breaks("leak_traceback", "refusals carry a Python traceback in their message", "answer")
def leak_traceback(req: Req, ans: Answer) -> None:
    obj = ans.json()
    if 400 <= ans.status < 500 and isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        obj["error"]["message"] = str(obj["error"].get("message", "")) + TRACEBACK
        ans.set_json(obj)


@breaks("chat_usage_mismatch", "chat answers report a total_tokens that is not prompt + completion", "answer")
def chat_usage_mismatch(req: Req, ans: Answer) -> None:
    obj = ans.json()
    if req.is_chat and ans.status == 200 and isinstance(obj, dict) and isinstance(obj.get("usage"), dict):
        obj["usage"]["total_tokens"] += 7
        ans.set_json(obj)


@breaks("edit_not_png", "image edits answer JPEG bytes in b64_json", "answer")
def edit_not_png(req: Req, ans: Answer) -> None:
    obj = ans.json()
    if req.path.endswith("/images/edits") and ans.status == 200 and isinstance(obj, dict):
        for item in obj.get("data") or []:
            item["b64_json"] = base64.b64encode(JPEG).decode()
        ans.set_json(obj)


@breaks("usage_miscounted", "usage records bill one completion token more than the answer reported", "answer")
def usage_miscounted(req: Req, ans: Answer) -> None:
    obj = ans.json()
    if req.path.startswith("/api/platform/usage") and ans.status == 200 and isinstance(obj, dict):
        for record in obj.get("data") or []:
            if isinstance(record.get("completion_tokens"), int):
                record["completion_tokens"] += 1
        ans.set_json(obj)


def _video(req: Req, ans: Answer) -> dict[str, Any] | None:
    obj = ans.json()
    if req.is_video and ans.status == 200 and isinstance(obj, dict) and obj.get("object") == "video":
        return obj
    return None


@breaks("video_status_invented", "a video in progress shows the invented status 'processing'", "answer")
def video_status_invented(req: Req, ans: Answer) -> None:
    obj = _video(req, ans)
    if obj and obj["status"] == "in_progress":
        obj["status"] = "processing"
        ans.set_json(obj)


@breaks("video_progress_down", "a video's progress goes down from poll to poll while it runs", "answer")
def video_progress_down(req: Req, ans: Answer) -> None:
    obj = _video(req, ans)
    if obj and req.method == "GET" and obj["status"] == "in_progress":
        polls = req.state.setdefault("polls", {})
        polls[obj["id"]] = n = polls.get(obj["id"], 0) + 1
        obj["progress"] = max(1, 95 - 15 * n)
        ans.set_json(obj)


@breaks("video_progress_stale", "a completed video keeps the progress of its last poll in progress (99)", "answer")
def video_progress_stale(req: Req, ans: Answer) -> None:
    obj = _video(req, ans)
    if obj and obj["status"] == "completed":
        obj["progress"] = 99
        ans.set_json(obj)


@breaks("video_early_bytes", "video content asked for before completion gets partial MP4 bytes", "answer")
def video_early_bytes(req: Req, ans: Answer) -> None:
    if req.is_video and req.path.endswith("/content") and 400 <= ans.status < 500:
        ans.status, ans.body = 200, PARTIAL_MP4
        ans.set_header("content-type", "video/mp4")


@breaks("remix_unlinked", "a remix answers without remixed_from_video_id", "answer")
def remix_unlinked(req: Req, ans: Answer) -> None:
    obj = _video(req, ans)
    if obj and req.path.endswith("/remix"):
        obj["remixed_from_video_id"] = None
        ans.set_json(obj)


# -- breaks of the deeper checks (issue 14) ---------------------------------------------------------------------------
def _edit_json_body(req: Req, edit: Callable[[dict[str, Any]], bool]) -> None:
    """Apply `edit` to a JSON request body; it returns whether it changed anything."""
    obj = req.json()
    if isinstance(obj, dict) and edit(obj):
        req.body = orjson.dumps(obj)


def _pop(obj: dict[str, Any], *names: str) -> bool:
    return bool([obj.pop(n) for n in names if n in obj])


@breaks("limits_dropped", "max_tokens, max_completion_tokens, max_output_tokens and maxOutputTokens are dropped "
        "from requests", "request")
def limits_dropped(req: Req) -> None:
    def edit(obj: dict[str, Any]) -> bool:
        config = obj.get("generationConfig")
        inner = _pop(config, "maxOutputTokens") if isinstance(config, dict) else False
        return _pop(obj, "max_tokens", "max_completion_tokens", "max_output_tokens") or inner

    _edit_json_body(req, edit)


@breaks("n_dropped", "chat requests lose `n` (one choice only)", "request")
def n_dropped(req: Req) -> None:
    if req.is_chat:
        _edit_json_body(req, lambda obj: _pop(obj, "n"))


@breaks("stop_dropped", "chat `stop` and Gemini `stopSequences` are dropped from requests", "request")
def stop_dropped(req: Req) -> None:
    def edit(obj: dict[str, Any]) -> bool:
        config = obj.get("generationConfig")
        return _pop(obj, "stop") or (_pop(config, "stopSequences") if isinstance(config, dict) else False)

    _edit_json_body(req, edit)


@breaks("chunk_created_drift", "chat stream chunks are stamped with the time each was relayed (`created` "
        "grows along the stream)", "stream")
async def chunk_created_drift(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    n = 0
    async for b in blocks:
        obj = json_of(b)
        if req.is_chat and isinstance(obj, dict) and "created" in obj:
            obj["created"] += n // 5
            n += 1
            b = rebuilt(b, obj)
        yield b


@breaks("first_delta_role_dropped", "chat stream deltas lose `role` (the first one has no role: assistant)",
        "stream")
async def first_delta_role_dropped(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for b in blocks:
        obj = json_of(b)
        changed = False
        for choice in (obj.get("choices") or []) if req.is_chat and isinstance(obj, dict) else []:
            changed = _pop(choice.get("delta") or {}, "role") or changed
        yield rebuilt(b, obj) if changed else b


@breaks("tool_args_object", "tool-call arguments in chat answers are sent as a JSON object, not a string", "answer")
def tool_args_object(req: Req, ans: Answer) -> None:
    obj = ans.json()
    if req.is_chat and ans.status == 200 and isinstance(obj, dict):
        for choice in obj.get("choices") or []:
            for call in (choice.get("message") or {}).get("tool_calls") or []:
                call["function"]["arguments"] = orjson.loads(call["function"]["arguments"])
        ans.set_json(obj)


@breaks("tool_calls_first_only", "chat answers keep only the first of several tool calls (JSON and stream)", "answer")
def tool_calls_first_only(req: Req, ans: Answer) -> None:
    obj = ans.json()
    if req.is_chat and ans.status == 200 and isinstance(obj, dict):
        for choice in obj.get("choices") or []:
            message = choice.get("message") or {}
            if message.get("tool_calls"):
                message["tool_calls"] = message["tool_calls"][:1]
        ans.set_json(obj)


@breaks("response_format_dropped", "chat requests lose response_format (no structured output)", "request")
def response_format_dropped(req: Req) -> None:
    if req.is_chat:
        _edit_json_body(req, lambda obj: _pop(obj, "response_format"))


@breaks("stream_usage_total_off", "the usage of streams (chat usage chunk, Responses final response, Gemini last "
        "piece) has a total that is not the sum", "stream")
async def stream_usage_total_off(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for b in blocks:
        obj = json_of(b)
        usage = None
        if isinstance(obj, dict):
            usage = (obj.get("usage") if req.is_chat else (obj.get("response") or {}).get("usage")
                     if req.is_responses and obj.get("type") in ("response.completed", "response.incomplete")
                     else obj.get("usageMetadata") if req.is_gemini else None)
        if isinstance(usage, dict):
            for name in ("total_tokens", "totalTokenCount"):
                if name in usage:
                    usage[name] += 5
            b = rebuilt(b, obj)
        yield b


@breaks("errors_as_200", "refusals (4xx) are answered with HTTP 200, the error body kept", "head")
def errors_as_200(req: Req, ans: Answer) -> None:
    if 400 <= ans.status < 500 and not req.is_console:
        ans.status = 200


@breaks("gemini_system_dropped", "Gemini requests lose systemInstruction", "request")
def gemini_system_dropped(req: Req) -> None:
    if req.is_gemini:
        _edit_json_body(req, lambda obj: _pop(obj, "systemInstruction", "system_instruction"))


@breaks("gemini_history_dropped", "Gemini requests keep only the last turn of `contents`", "request")
def gemini_history_dropped(req: Req) -> None:
    def edit(obj: dict[str, Any]) -> bool:
        contents = obj.get("contents")
        if isinstance(contents, list) and len(contents) > 1:
            obj["contents"] = contents[-1:]
            return True
        return False

    if req.is_gemini:
        _edit_json_body(req, edit)


@breaks("count_tokens_guessed", "countTokens is answered by the relay from a guess (characters / 4, at least 1)",
        "answer")
def count_tokens_guessed(req: Req, ans: Answer) -> None:
    obj = ans.json()
    if req.path.endswith(":countTokens") and ans.status == 200 and isinstance(obj, dict):
        ans.set_json({"totalTokens": max(1, len(req.body) // 40)})


# -- the proxy ---------------------------------------------------------------------------------------------------------
@dataclass
class BreakingProxy:
    upstream: str
    good_key: str
    active: Break | None = None
    state: dict[str, Any] = field(default_factory=dict)
    _client: httpx.AsyncClient | None = None

    def use(self, name: str | None) -> None:
        """Apply the break `name` to the requests that follow (None: relay faithfully)."""
        self.active = BREAKS[name] if name else None
        self.state = {}

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._relay(scope, receive, send)

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._client = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=100))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _relay(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        assert self._client is not None, "serve the proxy with lifespan='on'"
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        brk = self.active
        req = Req(scope["method"], scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?")[0],
                  parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True),
                  [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]],
                  bytes(body), self.good_key, self.state)
        query = list(req.query)
        if brk and brk.request:
            brk.request(req)
        # the query as sent, unless a break changed it
        qs = urlencode(req.query) if req.query != query else scope["query_string"].decode("latin-1")
        url = self.upstream + req.path + ("?" + qs if qs else "")
        headers = [(k, v) for k, v in req.headers if k not in HOP_BY_HOP] + [("accept-encoding", "identity")]
        upstream = await self._client.send(self._client.build_request(req.method, url, headers=headers,
                                                                      content=req.body), stream=True)
        try:
            ans = Answer(upstream.status_code, [(k.decode("latin-1").lower(), v.decode("latin-1"))
                                                for k, v in upstream.headers.raw
                                                if k.decode("latin-1").lower() not in HOP_BY_HOP])
            is_sse = ans.content_type.startswith(sse.MEDIA_TYPE)
            if brk and brk.head:
                brk.head(req, ans)
            if brk and brk.answer and not is_sse:
                ans.body = await upstream.aread()
                brk.answer(req, ans)
                ans.set_header("content-length", str(len(ans.body)))
                await self._start(send, ans)
                await send({"type": "http.response.body", "body": ans.body})
                return
            await self._start(send, ans)
            chunks: AsyncIterator[bytes] = upstream.aiter_raw()
            if brk and brk.stream and is_sse:
                chunks = brk.stream(req, _events(chunks))
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await upstream.aclose()

    @staticmethod
    async def _start(send: Callable, ans: Answer) -> None:
        await send({"type": "http.response.start", "status": ans.status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in ans.headers]})


async def _events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Raw SSE events (each with its closing blank line) as they complete; a trailing fragment as is."""
    buf = b""
    async for chunk in chunks:
        buf += chunk
        while m := EVENT_END.search(buf):
            yield buf[:m.end()]
            buf = buf[m.end():]
    if buf:
        yield buf
