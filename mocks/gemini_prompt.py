"""Gemini request bodies -> the answer engine's `Prompt`, with Google-style 400s for bad input.

Field names are accepted in both proto JSON spellings (`systemInstruction` and
`system_instruction`), as the real API does. Gemini `Schema` objects (types in upper case,
`nullable`, snake_case keywords) are turned into JSON Schema before the engine sees them.
`proto_names` gives a body the documented (lowerCamel) names where it used the proto ones,
so that gemini.yaml's request schemas check both spellings.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from typing import Any

from specs import documents

from .answer import Message, Prompt, Tool
from .server import ApiError
from .textgen import canonical

ROLES = {"user": "user", "model": "assistant", "function": "tool"}
MIME_TYPES = ("text/plain", "application/json", "text/x.enum")
MAX_CANDIDATES, MAX_STOP_SEQUENCES = 8, 5  # the real API's limits (Gemini 2.x models)
MODES = {"AUTO": "auto", "VALIDATED": "auto", "MODE_UNSPECIFIED": "auto", "ANY": "required", "NONE": "none"}
_DATA_KEYS = ("text", "inlineData", "fileData", "functionCall", "functionResponse",
              "executableCode", "codeExecutionResult")
# Gemini Schema keywords spelled the proto way -> JSON Schema keywords
_SCHEMA_KEYS = {"any_of": "anyOf", "min_items": "minItems", "max_items": "maxItems",
                "min_length": "minLength", "max_length": "maxLength", "min_properties": "minProperties",
                "max_properties": "maxProperties", "property_ordering": "propertyOrdering",
                "additional_properties": "additionalProperties", "prefix_items": "prefixItems"}
_SUBSCHEMA = ("items", "additionalProperties", "not")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "$defs", "definitions")


def get(obj: dict[str, Any], name: str) -> Any:
    """`obj[name]` under its lowerCamel or its snake_case spelling."""
    if name in obj:
        return obj[name]
    return obj.get(re.sub(r"([A-Z])", r"_\1", name).lower())


def invalid(path: str, kind: str, value: Any) -> ApiError:
    """The real API's wording for a value of the wrong type."""
    shown = canonical(value).decode()
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ApiError(400, f"Invalid value at '{path}' ({kind}), {shown}")


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(path, "TYPE_MESSAGE", value)
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(path, "TYPE_LIST", value)
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise invalid(path, "TYPE_STRING", value)
    return value


def _int(value: Any, path: str) -> int:
    # proto JSON allows integers as strings
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise invalid(path, "TYPE_INT32", value)
    return int(value)


def _num(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(path, "TYPE_FLOAT", value)
    return float(value)


def _bytes(value: Any, path: str) -> bytes:
    """Base64, standard or URL-safe, padding optional (as the real API takes it)."""
    text = _str(value, path).strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        if re.fullmatch(r"[A-Za-z0-9+/]*=*", padded):
            return base64.b64decode(padded, validate=True)
        if re.fullmatch(r"[A-Za-z0-9_-]*=*", padded):
            return base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError):
        pass
    raise ApiError(400, f"Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed")


# -- contents ----------------------------------------------------------------------------------------
def content(value: Any, path: str, *, system: bool = False) -> Message:
    """One Content -> one Message; a turn with functionResponse parts is a tool result."""
    c = _obj(value, path)
    role = get(c, "role") or "user"
    if not isinstance(role, str) or (not system and role not in ROLES):
        raise ApiError(400, f"Please use a valid role: user, model. Got {role!r} at '{path}.role'.")
    parts = get(c, "parts")
    if parts is None or parts == []:
        raise ApiError(400, f"* GenerateContentRequest.{path}.parts: contents.parts must not be empty.")
    texts: list[str] = []
    images: list[str] = []
    results: list[str] = []
    for j, raw in enumerate(_list(parts, f"{path}.parts")):
        where = f"{path}.parts[{j}]"
        part = _obj(raw, where)
        if not any(get(part, k) is not None for k in _DATA_KEYS):
            raise ApiError(400, f"* GenerateContentRequest.{where}.data: required oneof field 'data' must "
                                f"have one initialized field ({', '.join(_DATA_KEYS)})")
        if (text := get(part, "text")) is not None:
            texts.append(_str(text, f"{where}.text"))
        if (blob := get(part, "inlineData")) is not None:
            blob = _obj(blob, f"{where}.inlineData")
            mime = _str(get(blob, "mimeType") or "", f"{where}.inlineData.mimeType")
            if not mime:
                raise ApiError(400, f"* GenerateContentRequest.{where}.inline_data.mime_type: "
                                    "mime_type must be specified")
            raw_bytes = _bytes(get(blob, "data") or "", f"{where}.inlineData.data")
            images.append(f"data:{mime};base64,{base64.b64encode(raw_bytes).decode()}")
        if (file := get(part, "fileData")) is not None:
            file = _obj(file, f"{where}.fileData")
            uri = get(file, "fileUri")
            if not isinstance(uri, str) or not uri:
                raise ApiError(400, f"* GenerateContentRequest.{where}.file_data.file_uri: "
                                    "file_uri must be specified")
            images.append(uri)
        if (call := get(part, "functionCall")) is not None:
            call = _obj(call, f"{where}.functionCall")
            name = _str(get(call, "name"), f"{where}.functionCall.name")
            texts.append(f"{name}({canonical(get(call, 'args') or {}).decode()})")
        if (resp := get(part, "functionResponse")) is not None:
            resp = _obj(resp, f"{where}.functionResponse")
            _str(get(resp, "name"), f"{where}.functionResponse.name")
            results.append(canonical(_obj(get(resp, "response") or {}, f"{where}.functionResponse.response"))
                           .decode())
        if (code := get(part, "executableCode")) is not None:
            texts.append(str(get(_obj(code, f"{where}.executableCode"), "code") or ""))
        if (out := get(part, "codeExecutionResult")) is not None:
            texts.append(str(get(_obj(out, f"{where}.codeExecutionResult"), "output") or ""))
    text = "\n".join(texts)
    if system:
        return Message("system", text)
    if results:
        return Message("tool", text, images, tool_result="\n".join(results))
    return Message(ROLES[role], text, images)


def messages(body: dict[str, Any], field: str = "contents") -> list[Message]:
    out: list[Message] = []
    if (system := get(body, "systemInstruction")) is not None:
        out.append(content(system, "systemInstruction", system=True))
    contents = get(body, field)
    if contents is None:
        raise ApiError(400, f"* GenerateContentRequest.{field}: contents is not specified")
    if not _list(contents, field):
        raise ApiError(400, f"* GenerateContentRequest.{field}: contents must not be empty")
    out += [content(c, f"{field}[{i}]") for i, c in enumerate(contents)]
    return out


# -- tools -------------------------------------------------------------------------------------------
def json_schema(schema: Any) -> Any:
    """A Gemini Schema (or a JSON Schema) as lower-case JSON Schema."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        key = _SCHEMA_KEYS.get(key, key)
        if key == "type":
            if isinstance(value, str):
                value = value.lower()
                if value == "type_unspecified":
                    continue
            elif isinstance(value, list):
                value = [v.lower() if isinstance(v, str) else v for v in value]
        elif key in _SUBSCHEMA:
            value = json_schema(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [json_schema(v) for v in value]
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {name: json_schema(v) for name, v in value.items()}
        out[key] = value
    if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def tools(body: dict[str, Any]) -> list[Tool]:
    out: list[Tool] = []
    for i, raw in enumerate(_list(get(body, "tools") or [], "tools")):
        tool = _obj(raw, f"tools[{i}]")
        # other tool kinds (googleSearch, codeExecution, urlContext...) are accepted and unused
        for j, raw_decl in enumerate(_list(get(tool, "functionDeclarations") or [],
                                           f"tools[{i}].functionDeclarations")):
            where = f"tools[{i}].functionDeclarations[{j}]"
            decl = _obj(raw_decl, where)
            name = get(decl, "name")
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}", name):
                raise ApiError(400, f"* GenerateContentRequest.{where}.name: Invalid function name. Must "
                                    "start with a letter or an underscore and contain only a-z, A-Z, 0-9, "
                                    "underscores, dots, colons and dashes, with a maximum length of 64.")
            params = get(decl, "parametersJsonSchema")
            if params is None:
                params = get(decl, "parameters")
            params = json_schema(_obj(params, f"{where}.parameters")) if params is not None else {}
            description = get(decl, "description") or ""
            out.append(Tool(name, _str(description, f"{where}.description"), params))
    return out


def tool_choice(body: dict[str, Any], offered: list[Tool]) -> tuple[str, list[Tool]]:
    """toolConfig.functionCallingConfig -> (engine tool_choice, the tools the model may call)."""
    config = get(_obj(get(body, "toolConfig") or {}, "toolConfig"), "functionCallingConfig") or {}
    config = _obj(config, "toolConfig.functionCallingConfig")
    mode = _str(get(config, "mode") or "AUTO", "toolConfig.functionCallingConfig.mode").upper()
    if mode not in MODES:
        raise ApiError(400, f"Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/"
                            f"google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), {mode!r}; "
                            f"expected one of {', '.join(MODES)}")
    allowed = _list(get(config, "allowedFunctionNames") or [], "toolConfig.functionCallingConfig.allowedFunctionNames")
    if not all(isinstance(a, str) for a in allowed):
        raise ApiError(400, "toolConfig.functionCallingConfig.allowedFunctionNames must be a list of strings")
    if allowed:
        names = {t.name for t in offered}
        unknown = [a for a in allowed if a not in names]
        if unknown:
            raise ApiError(400, f"allowedFunctionNames names undeclared function(s): {', '.join(map(str, unknown))}")
        offered = [t for t in offered if t.name in allowed]
    choice = MODES[mode]
    if choice == "required" and len(offered) == 1:
        choice = offered[0].name
    return choice, offered


# -- generation config -------------------------------------------------------------------------------
@dataclasses.dataclass
class Generation:
    max_tokens: int | None = None
    json_schema: dict[str, Any] | None = None
    candidates: int = 1
    stop: list[str] = dataclasses.field(default_factory=list)


def generation(body: dict[str, Any]) -> Generation:
    cfg = _obj(get(body, "generationConfig") or {}, "generationConfig")
    for name in ("temperature", "topP", "presencePenalty", "frequencyPenalty"):
        if (v := get(cfg, name)) is not None:
            _num(v, f"generationConfig.{name}")
    for name in ("topK", "seed"):
        if (v := get(cfg, name)) is not None:
            _int(v, f"generationConfig.{name}")
    out = Generation()
    if (count := get(cfg, "candidateCount")) is not None:
        out.candidates = _int(count, "generationConfig.candidateCount")
        if not 1 <= out.candidates <= MAX_CANDIDATES:
            raise ApiError(400, f"Unable to submit request because it has a candidateCount value of {out.candidates} "
                                f"but the supported range is from 1 (inclusive) to {MAX_CANDIDATES + 1} (exclusive). "
                                "Update the value and try again.")
    stops = _list(get(cfg, "stopSequences") or [], "generationConfig.stopSequences")
    if len(stops) > MAX_STOP_SEQUENCES:
        raise ApiError(400, f"* GenerateContentRequest.generation_config.stop_sequences: the number of "
                            f"stop_sequences must not exceed {MAX_STOP_SEQUENCES}, got {len(stops)}")
    out.stop = [_str(stop, f"generationConfig.stopSequences[{k}]") for k, stop in enumerate(stops)]
    if (limit := get(cfg, "maxOutputTokens")) is not None:
        out.max_tokens = _int(limit, "generationConfig.maxOutputTokens")
        if out.max_tokens < 1:
            raise ApiError(400, "generationConfig.maxOutputTokens must be a positive integer, "
                                f"got {out.max_tokens}")
    mime = _str(get(cfg, "responseMimeType") or "text/plain", "generationConfig.responseMimeType")
    if mime not in MIME_TYPES:
        raise ApiError(400, f"* GenerationConfig.response_mime_type: allowed mimetypes are "
                            f"{', '.join(MIME_TYPES)}; got {mime!r}")
    schema = get(cfg, "responseJsonSchema")
    if schema is None:
        schema = get(cfg, "responseSchema")
    if schema is not None:
        if mime == "text/plain":
            raise ApiError(400, "* GenerationConfig.response_schema: response_mime_type must be "
                                "application/json or text/x.enum when a response schema is given")
        schema = json_schema(_obj(schema, "generationConfig.responseSchema"))
    if mime == "application/json":
        out.json_schema = schema or {}
    return out


def to_prompt(body: dict[str, Any], model: str) -> tuple[Prompt, int]:
    """The engine's prompt and the number of candidates. The key is the normalised request, so spelling
    and format do not matter; stop sequences stay out of it: they cut the same text."""
    msgs = messages(body)
    choice, offered = tool_choice(body, tools(body))
    gen = generation(body)
    key = canonical({"model": model, "messages": [dataclasses.asdict(m) for m in msgs],
                     "tools": [dataclasses.asdict(t) for t in offered], "tool_choice": choice,
                     "json_schema": gen.json_schema, "max_tokens": gen.max_tokens})
    return Prompt(msgs, offered, choice, gen.json_schema, gen.max_tokens, key, gen.stop), gen.candidates


def count_prompt(body: dict[str, Any]) -> Prompt:
    """countTokens takes `contents` or a whole `generateContentRequest`."""
    inner = get(body, "generateContentRequest")
    if inner is not None:
        inner = _obj(inner, "generateContentRequest")
        if get(body, "contents") is not None:
            raise ApiError(400, "countTokens takes contents or generateContentRequest, not both")
        return Prompt(messages(inner), tools(inner))
    return Prompt(messages(body))


# -- the documented spelling, for schema checks --------------------------------------------------------
def proto_names(value: Any, schema: str) -> Any:
    """`value` with each proto (snake_case) field name that gemini.yaml's schema `schema` documents only in
    lowerCamel renamed to that (unless both are given). Names inside free-form objects (function
    arguments, user schemas) are data and stay as they are."""
    return _renamed(value, [{"$ref": f"#/components/schemas/{schema}"}])


def _renamed(value: Any, schemas: list[dict[str, Any]]) -> Any:
    if isinstance(value, dict):
        props: dict[str, list[dict[str, Any]]] = {}
        for schema in schemas:
            for name, subs in _shape(schema)[0].items():
                props.setdefault(name, []).extend(subs)
        out = {}
        for key, v in value.items():
            camel = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)
            if key not in props and camel in props and camel not in value:
                key = camel
            out[key] = _renamed(v, props[key]) if key in props else v
        return out
    if isinstance(value, list):
        items = [item for schema in schemas for item in _shape(schema)[1]]
        return [_renamed(v, items) for v in value] if items else value
    return value


_SHAPES: dict[int, tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]] = {}


def _shape(schema: dict[str, Any]) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """(property name -> its subschemas, item subschemas) of a schema with its allOf/anyOf members. Kept by the
    identity of the document's own (resolved) schema objects: the document is loaded once, never changed."""
    while "$ref" in schema:
        schema = documents.load("gemini")["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    found = _SHAPES.get(id(schema))
    if found is None:
        props = {name: [sub] for name, sub in schema.get("properties", {}).items()}
        items = [schema["items"]] if "items" in schema else []
        for member in (*schema.get("allOf", ()), *schema.get("anyOf", ())):  # anyOf: e.g. [X, null]
            member_props, member_items = _shape(member)
            for name, subs in member_props.items():
                props.setdefault(name, []).extend(subs)
            items += member_items
        found = _SHAPES[id(schema)] = (props, items)
    return found
