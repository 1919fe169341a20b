"""Gemini generateContent <-> the neutral form (chat completions), requests, answers and streams.

Mapped both ways: systemInstruction <-> system/developer messages; user/model turns <-> user/
assistant messages; text, inlineData (base64) <-> image_url data: URLs, fileData <-> image URLs;
functionCall (with its id) <-> tool_calls; functionResponse <-> tool messages; functionDeclarations
<-> function tools; functionCallingConfig <-> tool_choice; responseMimeType + responseJsonSchema /
responseSchema <-> response_format; maxOutputTokens, stopSequences, temperature, topP,
candidateCount, seed, presence/frequencyPenalty <-> their chat names; finishReason <->
finish_reason; usageMetadata <-> usage (thoughts count as output). Anything else is a 400.
"""

from __future__ import annotations

import mimetypes
import secrets
import time
from typing import Any

import orjson

from specs import sse

from .neutral import CHAT_FINISH, GEMINI_FINISH, Unsupported

# generationConfig <-> chat, same meaning
GENERATION = {"temperature": "temperature", "topP": "top_p", "maxOutputTokens": "max_completion_tokens",
              "candidateCount": "n", "seed": "seed", "presencePenalty": "presence_penalty",
              "frequencyPenalty": "frequency_penalty"}
CHAT_SAME_DEFAULTS = {"logprobs": (None, False), "store": (None, False), "parallel_tool_calls": (None, True),
                      "stream_options": None, "stream": None}


def _get(obj: dict[str, Any], name: str) -> Any:
    """lowerCamel or proto snake_case, as the Gemini API accepts both."""
    if name in obj:
        return obj[name]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name)
    return obj.get(snake)


def _call_id() -> str:
    return "call_" + secrets.token_hex(12)


# -- request: Gemini -> chat ----------------------------------------------------------------------------------


def request_to_chat(body: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    known = {"contents", "systemInstruction", "system_instruction", "tools", "toolConfig", "tool_config",
             "generationConfig", "generation_config"}
    for name in body:
        if name not in known and body[name] is not None:
            raise Unsupported(f"{name} cannot be carried to this model's node (it does not speak Gemini's API)", name)
    out: dict[str, Any] = {"model": model}
    messages: list[dict[str, Any]] = []
    system = _get(body, "systemInstruction")
    if system is not None:
        messages.append({"role": "system", "content": _texts(system, "systemInstruction")})
    ids: dict[str, list[str]] = {}  # function name -> ids of its calls not answered yet
    for i, content in enumerate(_get(body, "contents") or []):
        messages += _turn(content, f"contents[{i}]", ids)
    out["messages"] = messages
    tools = _get(body, "tools")
    if tools:
        out["tools"] = [t for i, tool in enumerate(tools) for t in _declarations(tool, f"tools[{i}]")]
    config = _get(body, "toolConfig")
    if config:
        out["tool_choice"] = _choice(config)
    gen = _get(body, "generationConfig") or {}
    for name, value in gen.items():
        camel = "".join(w if k == 0 else w.capitalize() for k, w in enumerate(name.split("_")))
        if value is None:
            continue
        if camel in GENERATION:
            out[GENERATION[camel]] = value
        elif camel == "stopSequences":
            out["stop"] = value
        elif camel in ("responseMimeType", "responseSchema", "responseJsonSchema") or (
                camel == "responseModalities" and [str(m).upper() for m in value] == ["TEXT"]):
            continue  # the response format is read below; text is all a chat node answers
        else:
            raise Unsupported(f"generationConfig.{name} cannot be carried to this model's node", f"generationConfig.{name}")
    mime = _get(gen, "responseMimeType")
    schema = _get(gen, "responseJsonSchema") or _get(gen, "responseSchema")
    if mime == "application/json":
        out["response_format"] = ({"type": "json_schema", "json_schema": {"name": "response", "schema": json_schema(schema)}}
                                  if schema is not None else {"type": "json_object"})
    elif mime not in (None, "text/plain"):
        raise Unsupported(f"generationConfig.responseMimeType {mime!r} cannot be carried", "generationConfig.responseMimeType")
    elif schema is not None:
        raise Unsupported("generationConfig.responseSchema needs responseMimeType application/json",
                          "generationConfig.responseSchema")
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _texts(content: Any, where: str) -> str:
    parts = _get(content, "parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        raise Unsupported(f"{where}.parts must be a list of text parts", where)
    out = []
    for j, part in enumerate(parts):
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise Unsupported(f"{where}.parts[{j}]: only text can be carried in a system instruction", where)
        out.append(part["text"])
    return "\n".join(out)


def _turn(content: Any, where: str, ids: dict[str, list[str]]) -> list[dict[str, Any]]:
    if not isinstance(content, dict):
        raise Unsupported(f"{where} must be an object", where)
    role = _get(content, "role") or "user"
    parts = _get(content, "parts") or []
    chat_parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            raise Unsupported(f"{at} must be an object", at)
        if part.get("thought"):  # the model's own thinking, sent back: not input to another model
            continue
        if isinstance(part.get("text"), str):
            chat_parts.append({"type": "text", "text": part["text"]})
        elif (data := _get(part, "inlineData")) is not None:
            mime = _get(data, "mimeType") or ""
            if not mime.startswith("image/"):
                raise Unsupported(f"{at}.inlineData: only images can be carried (got {mime!r})", f"{at}.inlineData")
            chat_parts.append({"type": "image_url", "image_url": {"url": f"data:{mime};base64,{_get(data, 'data')}"}})
        elif (data := _get(part, "fileData")) is not None:
            mime = _get(data, "mimeType") or ""
            if mime and not mime.startswith("image/"):
                raise Unsupported(f"{at}.fileData: only images can be carried (got {mime!r})", f"{at}.fileData")
            chat_parts.append({"type": "image_url", "image_url": {"url": _get(data, "fileUri")}})
        elif (call := _get(part, "functionCall")) is not None:
            call_id = call.get("id") or _call_id()
            ids.setdefault(call.get("name"), []).append(call_id)
            calls.append({"id": call_id, "type": "function",
                          "function": {"name": call.get("name"), "arguments": orjson.dumps(call.get("args") or {}).decode()}})
        elif (resp := _get(part, "functionResponse")) is not None:
            pending = ids.get(resp.get("name")) or []
            call_id = resp.get("id") or (pending[0] if pending else _call_id())
            if call_id in pending:
                pending.remove(call_id)
            results.append({"role": "tool", "tool_call_id": call_id,
                            "content": orjson.dumps(resp.get("response") or {}).decode()})
        else:
            raise Unsupported(f"{at}: {', '.join(part) or 'this part'} cannot be carried to this model's node", at)
    if role == "model":
        msg: dict[str, Any] = {"role": "assistant", "content": _flat(chat_parts)}
        if calls:
            msg["tool_calls"] = calls
        return [msg]
    out = list(results)
    if chat_parts:
        out.append({"role": "user", "content": _flat(chat_parts)})
    return out


def _flat(parts: list[dict[str, Any]]) -> Any:
    """Text-only content as one string (what every chat node takes); a list when it has images."""
    if not parts:
        return None
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _declarations(tool: Any, where: str) -> list[dict[str, Any]]:
    decls = _get(tool, "functionDeclarations") if isinstance(tool, dict) else None
    others = [k for k in (tool or {}) if k not in ("functionDeclarations", "function_declarations")]
    if decls is None or others:
        raise Unsupported(f"{where}: only functionDeclarations can be carried ({', '.join(others) or 'none given'})", where)
    out = []
    for d in decls:
        fn: dict[str, Any] = {"name": d.get("name")}
        if d.get("description"):
            fn["description"] = d["description"]
        params = _get(d, "parametersJsonSchema") or _get(d, "parameters")
        if params is not None:
            fn["parameters"] = json_schema(params)
        out.append({"type": "function", "function": fn})
    return out


def json_schema(schema: Any) -> Any:
    """A Gemini Schema (OpenAPI subset: upper-case types, `nullable`) as JSON Schema."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k == "type" and isinstance(v, str):
            out["type"] = v.lower()
        elif k == "nullable":
            continue
        elif k in ("properties", "$defs", "definitions") and isinstance(v, dict):
            out[k] = {name: json_schema(s) for name, s in v.items()}
        elif k in ("items", "anyOf", "any_of", "oneOf", "allOf", "not", "additionalProperties", "prefixItems"):
            out["anyOf" if k == "any_of" else k] = json_schema(v)
        elif k in ("propertyOrdering", "property_ordering"):
            continue
        else:
            out[k] = v
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _choice(config: dict[str, Any]) -> Any:
    fcc = _get(config, "functionCallingConfig") or {}
    mode = str(_get(fcc, "mode") or "AUTO").upper()
    allowed = _get(fcc, "allowedFunctionNames") or []
    if mode == "NONE":
        return "none"
    if mode in ("AUTO", "VALIDATED", "MODE_UNSPECIFIED") and not allowed:
        return "auto"
    if mode == "ANY":
        if not allowed:
            return "required"
        if len(allowed) == 1:
            return {"type": "function", "function": {"name": allowed[0]}}
    raise Unsupported("toolConfig.functionCallingConfig: only AUTO, NONE, ANY and ANY with one allowed function "
                      "can be carried", "toolConfig")


# -- request: chat -> Gemini -----------------------------------------------------------------------------------


def request_from_chat(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    gen: dict[str, Any] = {}
    chat_names = {v: k for k, v in GENERATION.items()}
    for name, value in body.items():
        if value is None or name in ("model", "messages", "tools", "tool_choice", "response_format", "stop",
                                     "max_tokens"):
            continue
        if name in chat_names:
            gen[chat_names[name]] = value
        elif name in CHAT_SAME_DEFAULTS:
            allowed = CHAT_SAME_DEFAULTS[name]
            if allowed is not None and value not in allowed:
                raise Unsupported(f"{name}: {value!r} cannot be carried to a Gemini node", name)
        else:
            raise Unsupported(f"{name} cannot be carried to this model's node (it speaks Gemini's API)", name)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        gen["maxOutputTokens"] = limit
    if body.get("stop") is not None:
        gen["stopSequences"] = [body["stop"]] if isinstance(body["stop"], str) else body["stop"]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        gen["responseMimeType"] = "application/json"
        if fmt["type"] == "json_schema":
            gen["responseJsonSchema"] = (fmt.get("json_schema") or {}).get("schema") or {}
    elif isinstance(fmt, dict) and fmt.get("type") not in (None, "text"):
        raise Unsupported(f"response_format {fmt.get('type')!r} cannot be carried", "response_format")
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name (a functionResponse names its function)
    for i, m in enumerate(body.get("messages") or []):
        _content_of(m, f"messages[{i}]", system, contents, names)
    if system:
        out["systemInstruction"] = {"parts": system}
    out["contents"] = contents
    if body.get("tools"):
        out["tools"] = [{"functionDeclarations": [_declaration(t, f"tools[{i}]") for i, t in enumerate(body["tools"])]}]
    if body.get("tool_choice") is not None:
        out["toolConfig"] = {"functionCallingConfig": _mode(body["tool_choice"])}
    if gen:
        out["generationConfig"] = gen
    return out


def _content_of(m: dict[str, Any], where: str, system: list, contents: list, names: dict[str, str]) -> None:
    role = m.get("role")
    extra = set(m) - {"role", "content", "tool_calls", "tool_call_id", "refusal"}
    if extra:
        raise Unsupported(f"{where}.{sorted(extra)[0]} cannot be carried to a Gemini node", f"{where}.{sorted(extra)[0]}")
    if role in ("system", "developer"):
        system += _parts(m.get("content"), where, text_only=True)
    elif role == "user":
        _append(contents, "user", _parts(m.get("content"), where))
    elif role == "assistant":
        parts = _parts(m.get("content"), where) if m.get("content") else []
        for call in m.get("tool_calls") or ():
            fn = call.get("function") or {}
            names[call.get("id")] = fn.get("name")
            fc: dict[str, Any] = {"name": fn.get("name"), "args": _args(fn.get("arguments"))}
            if call.get("id"):
                fc["id"] = call["id"]
            parts.append({"functionCall": fc})
        _append(contents, "model", parts or [{"text": ""}])
    elif role == "tool":
        call_id = m.get("tool_call_id")
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        response = _args(content) if isinstance(content, str) and content.startswith("{") else None
        fr = {"name": names.get(call_id, call_id), "response": response or {"result": content}}
        if call_id:
            fr["id"] = call_id
        _append(contents, "user", [{"functionResponse": fr}])
    else:
        raise Unsupported(f"{where}.role {role!r} cannot be carried to a Gemini node", f"{where}.role")


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    """Gemini wants turns to alternate: consecutive parts of one role join one turn (tool results too)."""
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"] += parts
    else:
        contents.append({"role": role, "parts": parts})


def _parts(content: Any, where: str, *, text_only: bool = False) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise Unsupported(f"{where}.content must be a string or a list of parts", f"{where}.content")
    out = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        at = f"{where}.content[{j}]"
        if kind == "text":
            out.append({"text": part.get("text", "")})
        elif kind == "image_url" and not text_only:
            out.append(_image(part.get("image_url") or {}, at))
        else:
            raise Unsupported(f"{at}: {kind!r} parts cannot be carried to a Gemini node here", at)
    return out


def _image(image: dict[str, Any], at: str) -> dict[str, Any]:
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str) or not url:
        raise Unsupported(f"{at}.image_url.url is required", at)
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        mime = head[5:].split(";")[0]
        if not head.endswith(";base64") or not mime.startswith("image/"):
            raise Unsupported(f"{at}: a data: URL must be a base64 image", at)
        return {"inlineData": {"mimeType": mime, "data": data}}
    mime = mimetypes.guess_type(url.split("?")[0])[0]
    if not mime or not mime.startswith("image/"):
        raise Unsupported(f"{at}: Gemini needs an image's type, which {url[:80]!r} does not show; send a data: URL",
                          at)
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _args(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {"arguments": raw}
    return value if isinstance(value, dict) else {"value": value}


def _declaration(tool: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        raise Unsupported(f"{where}: only function tools can be carried to a Gemini node", where)
    fn = tool.get("function") or {}
    out: dict[str, Any] = {"name": fn.get("name")}
    if fn.get("description"):
        out["description"] = fn["description"]
    if fn.get("parameters") is not None:
        out["parametersJsonSchema"] = fn["parameters"]
    return out


def _mode(choice: Any) -> dict[str, Any]:
    if choice in ("auto", "none", "required"):
        return {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]}
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"mode": "ANY", "allowedFunctionNames": [(choice.get("function") or {}).get("name")]}
    raise Unsupported("tool_choice cannot be carried to a Gemini node", "tool_choice")


# -- answers ------------------------------------------------------------------------------------------------------


def _usage(meta: dict[str, Any] | None) -> dict[str, int]:
    meta = meta or {}
    prompt = int(meta.get("promptTokenCount") or 0)
    out = int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
    usage = {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}
    if meta.get("thoughtsTokenCount"):
        usage["completion_tokens_details"] = {"reasoning_tokens": int(meta["thoughtsTokenCount"])}
    return usage


def _split_parts(parts: list[dict[str, Any]]) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    texts, thoughts, calls = [], [], []
    for part in parts:
        if isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else texts).append(part["text"])
        elif part.get("functionCall"):
            fc = part["functionCall"]
            calls.append({"id": fc.get("id") or _call_id(), "type": "function",
                          "function": {"name": fc.get("name"), "arguments": orjson.dumps(fc.get("args") or {}).decode()}})
    return ("".join(texts) if texts else None), ("".join(thoughts) if thoughts else None), calls


def answer_to_chat(obj: dict[str, Any], model: str) -> dict[str, Any]:
    choices = []
    for k, cand in enumerate(obj.get("candidates") or ()):
        text, thought, calls = _split_parts((cand.get("content") or {}).get("parts") or [])
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        if thought:
            message["reasoning_content"] = thought
        if calls:
            message["tool_calls"] = calls
        finish = "tool_calls" if calls else CHAT_FINISH.get(cand.get("finishReason") or "STOP", "stop")
        choices.append({"index": cand.get("index", k), "message": message, "finish_reason": finish, "logprobs": None})
    if not choices:  # the prompt itself was blocked
        choices.append({"index": 0, "message": {"role": "assistant", "content": None, "refusal": None},
                        "finish_reason": "content_filter", "logprobs": None})
    return {"id": "chatcmpl-" + (obj.get("responseId") or secrets.token_hex(12)), "object": "chat.completion",
            "created": int(time.time()), "model": model, "choices": choices, "usage": _usage(obj.get("usageMetadata"))}


def _fc_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        parts.append({"text": message["reasoning_content"], "thought": True})
    if message.get("content") or message.get("refusal"):
        parts.append({"text": message.get("content") or message.get("refusal")})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        fc = {"name": fn.get("name"), "args": _args(fn.get("arguments"))}
        if call.get("id"):
            fc["id"] = call["id"]
        parts.append({"functionCall": fc})
    return parts or [{"text": ""}]


def gemini_usage(usage: dict[str, Any] | None) -> dict[str, int]:
    usage = usage or {}
    prompt, out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return {"promptTokenCount": prompt, "candidatesTokenCount": out, "totalTokenCount": prompt + out}


def answer_from_chat(obj: dict[str, Any], model: str) -> dict[str, Any]:
    cands = [{"content": {"role": "model", "parts": _fc_parts(c.get("message") or {})},
              "finishReason": GEMINI_FINISH.get(c.get("finish_reason") or "stop", "OTHER"), "index": c.get("index", k)}
             for k, c in enumerate(obj.get("choices") or ())]
    return {"candidates": cands, "usageMetadata": gemini_usage(obj.get("usage")), "modelVersion": model,
            "responseId": str(obj.get("id") or secrets.token_hex(12))}


# -- streams ---------------------------------------------------------------------------------------------------------


class StreamToChat:
    """Gemini stream events in, neutral chat chunks out; the usage chunk at the end."""

    def __init__(self, model: str) -> None:
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created, self.model = int(time.time()), model
        self.started: set[int] = set()
        self.calls: dict[int, int] = {}  # candidate -> tool calls sent so far
        self.usage: dict[str, Any] | None = None

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": choices, **extra}

    def event(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        if obj.get("usageMetadata"):
            self.usage = obj["usageMetadata"]
        choices = []
        for k, cand in enumerate(obj.get("candidates") or ()):
            index = cand.get("index", k)
            delta: dict[str, Any] = {}
            if index not in self.started:
                self.started.add(index)
                delta["role"] = "assistant"
            text, thought, calls = _split_parts((cand.get("content") or {}).get("parts") or [])
            if thought:
                delta["reasoning_content"] = thought
            if text:
                delta["content"] = text
            if calls:
                first = self.calls.get(index, 0)
                delta["tool_calls"] = [{"index": first + n, **c} for n, c in enumerate(calls)]
                self.calls[index] = first + len(calls)
            finish = cand.get("finishReason")
            if finish:
                finish = "tool_calls" if self.calls.get(index) else CHAT_FINISH.get(finish, "stop")
            if delta or finish:
                choices.append({"index": index, "delta": delta, "finish_reason": finish or None, "logprobs": None})
        return [self._chunk(choices)] if choices else []

    def end(self, meter: Any) -> list[dict[str, Any]]:
        return [self._chunk([], usage=_usage(self.usage))]


class StreamFromChat:
    """Neutral chat chunks in, Gemini events out (SSE, or the elements of one JSON array). Text goes
    out as it comes; a function call goes out whole (Gemini never splits one) with the last event,
    which carries every candidate's finishReason and the usage."""

    def __init__(self, model: str, sse_form: bool) -> None:
        self.model, self.sse = model, sse_form
        self.rid = secrets.token_hex(12)
        self.elements = 0
        self.calls: dict[int, dict[int, dict[str, Any]]] = {}  # candidate -> tool index -> call so far
        self.finish: dict[int, str] = {}
        self.usage: dict[str, Any] | None = None

    def _frame(self, obj: dict[str, Any]) -> bytes:
        if self.sse:
            return sse.encode(obj, crlf=True)
        head = b"[" if self.elements == 0 else b",\r\n"
        self.elements += 1
        return head + orjson.dumps(obj)

    def _event(self, cands: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        obj: dict[str, Any] = {"candidates": cands}
        if usage is not None:
            obj["usageMetadata"] = usage
        obj.update(modelVersion=self.model, responseId=self.rid)
        return self._frame(obj)

    def chunk(self, obj: dict[str, Any]) -> list[bytes]:
        if obj.get("usage"):
            self.usage = obj["usage"]
        cands = []
        for choice in obj.get("choices") or ():
            index = choice.get("index", 0)
            delta = choice.get("delta") or {}
            parts = []
            if delta.get("reasoning_content"):
                parts.append({"text": delta["reasoning_content"], "thought": True})
            if delta.get("content"):
                parts.append({"text": delta["content"]})
            for call in delta.get("tool_calls") or ():
                mine = self.calls.setdefault(index, {}).setdefault(call.get("index", 0), {"arguments": ""})
                fn = call.get("function") or {}
                if call.get("id"):
                    mine["id"] = call["id"]
                if fn.get("name"):
                    mine["name"] = fn["name"]
                mine["arguments"] += fn.get("arguments") or ""
            if choice.get("finish_reason"):
                self.finish[index] = GEMINI_FINISH.get(choice["finish_reason"], "OTHER")
            if parts:
                cands.append({"content": {"role": "model", "parts": parts}, "index": index})
        return [self._event(cands)] if cands else []

    def end(self) -> list[bytes]:
        cands = []
        for index in sorted(set(self.finish) | set(self.calls)):
            parts = []
            for call in self.calls.get(index, {}).values():
                fc = {"name": call.get("name"), "args": _args(call["arguments"])}
                if call.get("id"):
                    fc["id"] = call["id"]
                parts.append({"functionCall": fc})
            cands.append({"content": {"role": "model", "parts": parts or [{"text": ""}]},
                          "finishReason": self.finish.get(index, "STOP"), "index": index})
        out = [self._event(cands, gemini_usage(self.usage))]
        if not self.sse:
            out.append(b"]")
        return out

    def error(self, message: str) -> bytes:
        from specs import errors as wire

        return self._frame(wire.gemini_error(502, message)) + (b"" if self.sse else b"]")

    def error_tail(self, event: bytes) -> bytes:
        if self.sse:
            return event
        head = b"[" if self.elements == 0 else b",\r\n"
        return head + event + b"]"
