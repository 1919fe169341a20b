"""What the mock model answers: one engine behind the OpenAI, Responses and Gemini dialects.

Each dialect turns its request into a `Prompt`; `answer()` turns that into an `Answer`
(text or tool calls, finish reason, token counts). Rules, from MOCKS.md:
arithmetic in the prompt is computed; offered tools are called with arguments made from
their JSON Schema (every tool the prompt names by its function name, in one answer, when it
names two or more and parallel calls are allowed); a tool result is quoted; JSON formats give valid JSON; images are
described from their bytes or URL; max tokens cut the text with finish "length", a stop
sequence cuts it before the sequence with finish "stop". `answers()` gives the n answers of
one request (OpenAI `n`, Gemini `candidateCount`): the first is the plain answer, the others
are variants with their own text.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from . import media
from .textgen import count_tokens, rng, tokenize, words


@dataclass
class Message:
    role: str  # system | user | assistant | tool
    text: str = ""
    images: list[str] = field(default_factory=list)  # URLs or data URLs
    tool_result: str | None = None  # set on a tool-result message


@dataclass
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prompt:
    messages: list[Message]
    tools: list[Tool] = field(default_factory=list)
    tool_choice: str = "auto"  # auto | none | required | <tool name>
    json_schema: dict[str, Any] | None = None  # {} for plain JSON mode
    max_tokens: int | None = None
    key: bytes = b""  # canonical request bytes: what makes the answer deterministic
    stop: list[str] = field(default_factory=list)  # cut the text before the first of these (not in `key`)
    variant: int = 0  # which of the request's n answers: 0 is the plain one
    parallel_tools: bool = True  # several tool calls in one answer allowed (OpenAI parallel_tool_calls)


@dataclass
class ToolCall:
    name: str
    arguments: str  # JSON text


@dataclass
class Answer:
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish: str = "stop"  # stop | length | tool_calls
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def pieces(self) -> list[str]:
        """The text as streamed, one token a piece."""
        return tokenize(self.text)


# numbers joined by operators, with parentheses; an unbalanced match fails to parse and is skipped
_EXPR = re.compile(r"\(*\s*\d+(?:\.\d+)?(?:\s*\)*\s*[-+*/×÷]\s*\(*\s*\d+(?:\.\d+)?\s*\)*)+")
_LENGTH = re.compile(r"(\d{1,5})\s*(?:words|tokens|个词|词|字)", re.I)
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def find_expression(text: str) -> tuple[str, str] | None:
    """(expression, result) for the first simple arithmetic expression in the text."""
    for m in _EXPR.finditer(text):
        expr = m.group(0).strip()
        try:
            value = _eval(ast.parse(expr.replace("×", "*").replace("÷", "/"), mode="eval").body)
        except (SyntaxError, ZeroDivisionError, ValueError):
            continue
        result = str(int(value)) if float(value).is_integer() else f"{value:.6g}"
        return expr, result
    return None


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand)
    raise ValueError("not simple arithmetic")


def prompt_tokens(prompt: Prompt) -> int:
    """Input tokens: text tokens plus a small fixed cost per message, image and tool."""
    n = 0
    for m in prompt.messages:
        n += 4 + count_tokens(m.text) + 85 * len(m.images) + count_tokens(m.tool_result or "")
    for t in prompt.tools:
        n += 8 + count_tokens(t.name + " " + t.description) + count_tokens(orjson.dumps(t.parameters).decode())
    return max(n, 1)


def answers(prompt: Prompt, seed: int, n: int) -> list[Answer]:
    """The n answers of one request; each variant has its own key, so its own text and arguments."""
    return [answer(prompt if i == 0 else replace(prompt, key=prompt.key + f"#choice{i}".encode(), variant=i), seed)
            for i in range(n)]


_MEMO_MAX = 4096  # answers remembered; a load test repeats a handful of prompts
_memo: dict[tuple, Answer] = {}


def answer(prompt: Prompt, seed: int) -> Answer:
    """The answer (a fresh object: callers may cut it). A pure function of the prompt's key, cut and
    variant and the seed, so answers to keyed prompts are remembered: building one (text from the
    seeded generator, tokenizing) was a fifth of a mock's time per request under load."""
    if not prompt.key:
        return _answer(prompt, seed)
    memo_key = (seed, prompt.key, prompt.max_tokens, tuple(prompt.stop), prompt.variant)
    found = _memo.get(memo_key)
    if found is None:
        if len(_memo) >= _MEMO_MAX:
            _memo.clear()
        found = _memo[memo_key] = _answer(prompt, seed)
    return replace(found, tool_calls=list(found.tool_calls))


def _answer(prompt: Prompt, seed: int) -> Answer:
    r = rng(seed, prompt.key)
    last = prompt.messages[-1] if prompt.messages else Message("user")
    ans = Answer(prompt_tokens=prompt_tokens(prompt))
    user_text = last.text if last.role == "user" else ""

    tools = _pick_tools(prompt, user_text) if last.role == "user" else []
    if tools:
        for tool in tools:
            args = from_schema(tool.parameters or {"type": "object"}, r, user_text)
            call = ToolCall(tool.name, orjson.dumps(args).decode())
            ans.tool_calls.append(call)
            ans.completion_tokens += count_tokens(call.name) + count_tokens(call.arguments)
        ans.finish = "tool_calls"
        return ans

    if prompt.json_schema is not None:
        value = from_schema(prompt.json_schema, r, user_text) if prompt.json_schema else {
            "answer": _text_for(last, prompt, r)}
        text = orjson.dumps(value).decode()
    else:
        text = _text_for(last, prompt, r)
    pieces = tokenize(text)
    if prompt.max_tokens is not None and len(pieces) > prompt.max_tokens:
        pieces = pieces[: prompt.max_tokens]
        ans.finish = "length"
    text = "".join(pieces)
    # a stop sequence within what max_tokens left ends the answer there; one the cut split was never generated
    cut = min((i for i in (text.find(s) for s in prompt.stop if s) if i >= 0), default=-1)
    if cut >= 0:
        text, pieces = text[:cut], tokenize(text[:cut])
        ans.finish = "stop"
    ans.text = text
    ans.completion_tokens = len(pieces)
    return ans


def _text_for(last: Message, prompt: Prompt, r) -> str:
    parts: list[str] = []
    length = None
    if last.role == "tool" or last.tool_result is not None:
        parts.append(f"The tool returned {last.tool_result or last.text}.")
    else:
        for url in last.images:
            parts.append(f"The image is {describe_image(url)}.")
        found = find_expression(last.text)
        if found:
            parts.append(f"{found[0]} = {found[1]}.")
        length = _LENGTH.search(last.text)
    n = int(length.group(1)) if length else r.randint(16, 48)
    # a variant of an answer the prompt fixes (a result, a description) adds words of its own
    if length or not parts or prompt.variant:
        parts.append(words(r, max(n, 1)) + ".")
    return " ".join(parts)


def describe_image(url: str) -> str:
    decoded = media.decode_data_url(url)
    if decoded is not None:
        info = media.image_info(decoded[1])
        if info:
            fmt, w, h = info
            return f"a {fmt.upper()} image of {w}x{h} pixels"
        return f"a {decoded[0]} file of {len(decoded[1])} bytes"
    return f"an image at {url}"


def _pick_tools(prompt: Prompt, text: str) -> list[Tool]:
    """The tools called: every tool the prompt names (by function name, two or more, in the order named)
    when parallel calls are allowed and the choice is auto or required; else the one that fits best."""
    if prompt.parallel_tools and prompt.tool_choice in ("auto", "required"):
        at = {t.name: m.start() for t in prompt.tools if (m := re.search(rf"\b{re.escape(t.name)}\b", text))}
        if len(at) >= 2:
            return sorted((t for t in prompt.tools if t.name in at), key=lambda t: at[t.name])
    tool = _pick_tool(prompt, text)
    return [tool] if tool is not None else []


def _pick_tool(prompt: Prompt, text: str) -> Tool | None:
    if not prompt.tools or prompt.tool_choice == "none":
        return None
    if prompt.tool_choice not in ("auto", "required"):
        return next((t for t in prompt.tools if t.name == prompt.tool_choice), prompt.tools[0])
    want = _terms(text)
    best, best_score = prompt.tools[0], -1
    for tool in prompt.tools:
        score = len(want & _terms(tool.name.replace("_", " ") + " " + tool.description))
        if score > best_score:
            best, best_score = tool, score
    return best


def _terms(text: str) -> set[str]:
    """Lower-case words, plus single CJK characters (Chinese has no spaces)."""
    low = text.lower()
    return set(re.findall(r"[a-z0-9]{3,}", low)) | {c for c in low if "\u4e00" <= c <= "\u9fff"}


_EXPR_NAMES = ("expr", "expression", "formula", "equation", "calculation", "query", "input")


def from_schema(schema: dict[str, Any], r, text: str = "", name: str = "", depth: int = 0) -> Any:
    """A value matching a JSON Schema: required fields filled, strings from the prompt where they fit."""
    if not isinstance(schema, dict) or depth > 6:
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return from_schema(schema[key][0], r, text, name, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        required = schema.get("required")
        if not isinstance(required, list) or not all(isinstance(k, str) for k in required):
            required = list(props)[:1]
        return {k: from_schema(props.get(k, {}), r, text, k, depth + 1) for k in required}
    if kind == "array":
        count = min(8, max(1, int(_bound(schema, "minItems", 1))))
        return [from_schema(schema.get("items", {}), r, text, name, depth + 1) for _ in range(count)]
    if kind == "integer":
        lo, hi = math.ceil(_bound(schema, "minimum", 1)), math.floor(_bound(schema, "maximum", 100))
        return r.randint(lo, max(lo, hi))
    if kind == "number":
        lo, hi = _bound(schema, "minimum", 0), _bound(schema, "maximum", 100)
        return round(r.uniform(lo, max(lo, hi)), 2)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    found = find_expression(text)
    if found and (name.lower() in _EXPR_NAMES or name == ""):
        return found[0]
    fmt = schema.get("format")
    if fmt == "date":
        return "2026-01-01"
    if fmt == "date-time":
        return "2026-01-01T00:00:00Z"
    return words(r, 3)


def _bound(schema: dict[str, Any], key: str, default: float) -> float:
    """A numeric keyword of a client's schema; a malformed or absurd one is ignored (no 500 for it)."""
    value = schema.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not -1e12 < value < 1e12:
        return default
    return value
