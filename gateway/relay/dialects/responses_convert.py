"""Responses <-> the neutral form (a chat completions body, answer and chunk stream).

Used when a Responses client's model is served by a node that does not speak Responses (a
Gemini node, a chat-only OpenAI-compatible node). What Responses has and chat cannot carry
(previous_response_id, stored responses, built-in tools, background runs, reasoning items)
is refused with a 400 naming the field, never dropped.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from specs import sse

from ..errors import RelayError
from .neutral import Unsupported

# Responses fields with a chat equivalent of the same meaning (renamed where the names differ)
SAME = ("temperature", "top_p", "parallel_tool_calls", "user", "service_tier", "metadata", "stream")
IGNORED = {"stream_options", "truncation", "store"}  # checked below for values that would matter


def _bad(field: str, why: str) -> RelayError:
    return Unsupported(f"{field}: {why}", field)


# -- request: Responses -> chat -----------------------------------------------------------------------------


def request_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"model": body["model"]}
    known = {"model", "input", "instructions", "tools", "tool_choice", "text", "max_output_tokens", "reasoning",
             "include", "background", "previous_response_id", *SAME, *IGNORED}
    for name in body:
        if name not in known and body[name] is not None:
            raise _bad(name, "cannot be carried to this model's node (it does not speak the Responses API)")
    if body.get("previous_response_id") is not None:
        raise _bad("previous_response_id", "this model's node does not speak the Responses API, so the gateway "
                   "keeps no conversation state for it: send the whole conversation in `input` instead")
    if body.get("store") is True:
        raise _bad("store", "responses of this model are not stored (its node does not speak the Responses "
                   "API): leave store out or send false")
    if body.get("background"):
        raise _bad("background", "background runs need a node that speaks the Responses API")
    if body.get("include"):
        raise _bad("include", "extra output data needs a node that speaks the Responses API")
    if body.get("truncation") not in (None, "disabled"):
        raise _bad("truncation", "only \"disabled\" can be carried")
    for name in SAME:
        if body.get(name) is not None:
            out[name] = body[name]
    if body.get("stream") is True:
        out["stream_options"] = {"include_usage": True}
    if body.get("max_output_tokens") is not None:
        out["max_completion_tokens"] = body["max_output_tokens"]
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        out["reasoning_effort"] = reasoning["effort"]
    messages: list[dict[str, Any]] = []
    if body.get("instructions") is not None:
        if not isinstance(body["instructions"], str):
            raise _bad("instructions", "must be a string")
        messages.append({"role": "system", "content": body["instructions"]})
    messages += input_messages(body.get("input"))
    out["messages"] = messages
    if body.get("tools"):
        out["tools"] = [_tool(t, i) for i, t in enumerate(body["tools"])]
    if body.get("tool_choice") is not None:
        out["tool_choice"] = _tool_choice(body["tool_choice"])
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type") not in (None, "text"):
        if fmt["type"] == "json_object":
            out["response_format"] = {"type": "json_object"}
        elif fmt["type"] == "json_schema":
            schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
            out["response_format"] = {"type": "json_schema", "json_schema": schema}
        else:
            raise _bad("text.format.type", f"{fmt['type']!r} cannot be carried")
    return out


def input_messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise _bad("input", "must be a string or a list of input items")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise _bad(where, "must be an object")
        kind = item.get("type") or "message"
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise _bad(f"{where}.role", "must be user, assistant, system or developer")
            out.append({"role": role, "content": _content(item.get("content"), f"{where}.content")})
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"}}
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)  # parallel calls: one assistant turn
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            if isinstance(output, list):
                output = _content(output, f"{where}.output")
                if not isinstance(output, str):
                    output = "".join(p.get("text", "") for p in output if p.get("type") == "text")
            out.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": output})
        else:
            raise _bad(f"{where}.type", f"{kind!r} items cannot be carried to this model's node")
    return out


def _content(value: Any, where: str) -> Any:
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise _bad(where, "must be a string or a list of content parts")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(value):
        at = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image":
            if not part.get("image_url"):
                raise _bad(f"{at}.file_id", "images by file id cannot be carried; send image_url")
            image = {"url": part["image_url"]}
            if part.get("detail") not in (None, "auto"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "refusal":
            parts.append({"type": "text", "text": part.get("refusal", "")})
        else:
            raise _bad(f"{at}.type", f"{kind!r} content cannot be carried to this model's node")
    return parts


def _tool(tool: Any, i: int) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        kind = tool.get("type") if isinstance(tool, dict) else tool
        raise _bad(f"tools[{i}].type", f"{kind!r} tools need a node that speaks the Responses API; "
                   "only function tools can be carried")
    fn = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
    return {"type": "function", "function": fn}


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    raise _bad("tool_choice", "only auto, none, required or a function can be carried")


# -- answer: chat -> Responses ------------------------------------------------------------------------------------


def _ident(prefix: str) -> str:
    return prefix + secrets.token_hex(24)


def usage_of(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    prompt, out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    reasoning = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": out, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": prompt + out}


def response_shell(request: dict[str, Any], model: str, rid: str, created: int) -> dict[str, Any]:
    """The Response object around the output: what the request asked for, as OpenAI echoes it."""
    text = request.get("text") if isinstance(request.get("text"), dict) else {}
    return {
        "id": rid, "object": "response", "created_at": created, "status": "in_progress", "background": False,
        "error": None, "incomplete_details": None, "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"), "model": model, "output": [],
        "parallel_tool_calls": request.get("parallel_tool_calls") is not False, "previous_response_id": None,
        "reasoning": {"effort": (request.get("reasoning") or {}).get("effort"), "summary": None},
        "store": False, "temperature": request.get("temperature", 1.0),
        "text": {"format": text.get("format") or {"type": "text"}},
        "tool_choice": request.get("tool_choice") or "auto", "tools": request.get("tools") or [],
        "top_p": request.get("top_p", 1.0), "truncation": "disabled", "metadata": request.get("metadata") or {},
    }


def _finished(resp: dict[str, Any], finish: str | None, usage: dict[str, Any] | None) -> dict[str, Any]:
    incomplete = finish == "length"
    reason = {"length": "max_output_tokens", "content_filter": "content_filter"}.get(finish or "")
    resp.update(status="incomplete" if reason else "completed", usage=usage_of(usage),
                incomplete_details={"reason": reason} if reason else None)
    if incomplete:
        for item in resp["output"]:
            if item["type"] == "message":
                item["status"] = "incomplete"
    return resp


def answer_from_chat(obj: dict[str, Any], request: dict[str, Any], model: str) -> dict[str, Any]:
    choices = obj.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    resp = response_shell(request, model, _ident("resp_"), int(obj.get("created") or time.time()))
    if message.get("content") or message.get("refusal") or not message.get("tool_calls"):
        content = ({"type": "refusal", "refusal": message["refusal"]} if message.get("refusal") else
                   {"type": "output_text", "text": message.get("content") or "", "annotations": [], "logprobs": []})
        resp["output"].append({"id": _ident("msg_"), "type": "message", "status": "completed",
                               "role": "assistant", "content": [content]})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        resp["output"].append({"id": _ident("fc_"), "type": "function_call", "status": "completed",
                               "call_id": call.get("id"), "name": fn.get("name"),
                               "arguments": fn.get("arguments") or ""})
    return _finished(resp, choice.get("finish_reason"), obj.get("usage"))


# -- stream: chat chunks -> Responses events ----------------------------------------------------------------------


class StreamFromChat:
    """Chat chunks (dicts, choice 0) in, Responses events (encoded SSE) out, in the order and shape
    OpenAI sends them: created, in_progress, per output item added / deltas / done, completed."""

    def __init__(self, request: dict[str, Any], model: str) -> None:
        self.resp = response_shell(request, model, _ident("resp_"), int(time.time()))
        self.seq = 0
        self.started = False
        self.text_item: dict[str, Any] | None = None
        self.calls: dict[int, dict[str, Any]] = {}  # chat tool-call index -> open function_call item
        self.order: list[dict[str, Any]] = []  # output items, in order
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None
        self.done = False

    @property
    def response_id(self) -> str:
        return self.resp["id"]

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return sse.encode(data, event=kind)

    def _start(self, out: list[bytes]) -> None:
        if not self.started:
            self.started = True
            snapshot = {**self.resp, "output": []}
            out.append(self._event("response.created", response=snapshot))
            out.append(self._event("response.in_progress", response=snapshot))

    def chunk(self, obj: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        self._start(out)
        if obj.get("usage"):
            self.usage = obj["usage"]
        for choice in obj.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out += self._text(delta["content"])
            for call in delta.get("tool_calls") or ():
                out += self._call(call)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return out

    def _text(self, text: str) -> list[bytes]:
        out = []
        item = self.text_item
        if item is None:
            item = self.text_item = {"id": _ident("msg_"), "type": "message", "status": "in_progress",
                                     "role": "assistant", "content": [], "_text": [], "_index": len(self.order)}
            self.order.append(item)
            out.append(self._event("response.output_item.added", output_index=item["_index"],
                                   item=_public(item)))
            out.append(self._event("response.content_part.added", item_id=item["id"], output_index=item["_index"],
                                   content_index=0, part={"type": "output_text", "text": "", "annotations": [],
                                                          "logprobs": []}))
        item["_text"].append(text)
        out.append(self._event("response.output_text.delta", item_id=item["id"], output_index=item["_index"],
                               content_index=0, delta=text, logprobs=[]))
        return out

    def _call(self, call: dict[str, Any]) -> list[bytes]:
        out = []
        index = call.get("index", 0)
        fn = call.get("function") or {}
        item = self.calls.get(index)
        if item is None:
            item = self.calls[index] = {"id": _ident("fc_"), "type": "function_call", "status": "in_progress",
                                        "call_id": call.get("id"), "name": fn.get("name"), "arguments": "",
                                        "_index": len(self.order)}
            self.order.append(item)
            out.append(self._event("response.output_item.added", output_index=item["_index"], item=_public(item)))
        if fn.get("arguments"):
            item["arguments"] += fn["arguments"]
            out.append(self._event("response.function_call_arguments.delta", item_id=item["id"],
                                   output_index=item["_index"], delta=fn["arguments"]))
        return out

    def end(self) -> list[bytes]:
        """The upstream stream is complete: close every item, then response.completed with the usage."""
        out: list[bytes] = []
        self._start(out)
        for item in self.order:
            at = {"item_id": item["id"], "output_index": item["_index"]}
            if item["type"] == "message":
                text = "".join(item.pop("_text"))
                part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
                item["content"] = [part]
                out.append(self._event("response.output_text.done", **at, content_index=0, text=text, logprobs=[]))
                out.append(self._event("response.content_part.done", **at, content_index=0, part=part))
            else:
                out.append(self._event("response.function_call_arguments.done", **at, name=item["name"],
                                       arguments=item["arguments"]))
            item["status"] = "completed"
            out.append(self._event("response.output_item.done", output_index=item["_index"], item=_public(item)))
        self.resp["output"] = [_public(i) for i in self.order]
        resp = _finished(self.resp, self.finish, self.usage)
        kind = "response.incomplete" if resp["status"] == "incomplete" else "response.completed"
        out.append(self._event(kind, response=resp))
        self.done = True
        return out

    def error(self, message: str) -> bytes:
        return self._event("error", code="upstream_error", message=message, param=None)


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}
