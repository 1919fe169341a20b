"""Surfaces (what a gateway may offer), profiles (which of them a run requires), and the probe that finds
what a target offers and which key forms it accepts, before any check runs.

A surface is offered unless every one of its probes answers 404 or 405 (a probe is a cheap request: a
list, or a POST whose body lacks required fields, so no model work is done). The guide's forms (`topapi`)
are probed by the two routes only a topapi-kind gateway has (/v1/getModelList, /responses/v1/models):
other gateways have a `/gemini/...` pass-through of their own.

The key forms are tried on a model list of each dialect, or, where there is none, on a one-token
generation: a form is accepted only by a 2xx (some gateways answer a key they do not read with a 400).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

SURFACES: dict[str, str] = {
    "openai.chat": "OpenAI chat completions and the model list (/v1/chat/completions, /v1/models)",
    "openai.responses": "OpenAI Responses (/v1/responses)",
    "openai.images": "OpenAI images (/v1/images/generations, /v1/images/edits)",
    "openai.videos": "OpenAI (Sora) videos (/v1/videos)",
    "gemini": "Gemini (/v1beta/models/...)",
    "topapi": "the usage guide's own forms: /v1/getModelList, /responses/v1/..., /gemini/v1beta/..., the bare "
              "`Authorization: <key>` and x-api-key forms, the guide's bodies as written",
    "console": "the consoles' API (/api/...)",
}
OFFICIAL = ("openai.chat", "openai.responses", "openai.images", "openai.videos", "gemini")
# profile -> (surfaces required, surfaces run when offered); the rest are skipped as outside the profile
PROFILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "auto": ((), tuple(SURFACES)),
    "topapi": (tuple(SURFACES), tuple(SURFACES)),
    "openai": (OFFICIAL[:4], OFFICIAL[:4]),
    "gemini": (("gemini",), ("gemini",)),
    "all": (OFFICIAL, tuple(SURFACES)),
}
DIALECTS = ("openai", "gemini")
# key forms tried per dialect, in the order of preference (the first accepted one is used by the checks)
FORM_ORDER = {"openai": ("bearer", "bare", "x-api-key"),
              "gemini": ("x-goog-api-key", "query", "bearer", "bare")}
DEFAULT_FORMS = {"openai": "bearer", "gemini": "x-goog-api-key"}
# the form of the key each form is judged under (auth.forms): official forms with the official surfaces
FORM_SURFACE = {"bearer": "openai.chat", "x-goog-api-key": "gemini", "query": "gemini",
                "bare": "topapi", "x-api-key": "topapi"}


def dialect(path: str) -> str:
    """The dialect of a relay path: Gemini under /gemini/ and /v1beta/ (and Gemini's /v1/models/{m}:method)."""
    p = "/" + path.lstrip("/")
    if p.startswith(("/gemini/", "/v1beta/")) or (p.startswith("/v1/models/") and ":" in p):
        return "gemini"
    return "openai"


def surface_of(path: str, method: str = "") -> str:
    """The surface a path of gateway.yaml (with its method, where it matters) belongs to."""
    p = "/" + path.lstrip("/")
    if p.startswith("/api/"):
        return "console"
    if method.upper() == "POST" and p.startswith("/v1/videos/") and p.endswith("/content"):
        return "topapi"  # the guide downloads with POST; the official API with GET
    if p.startswith(("/gemini/", "/responses/")) or p in ("/v1/getModelList", "/healthz"):
        return "topapi"
    if dialect(p) == "gemini":
        return "gemini"
    for prefix, surface in (("/v1/responses", "openai.responses"), ("/v1/images", "openai.images"),
                            ("/v1/videos", "openai.videos")):
        if p.startswith(prefix):
            return surface
    return "openai.chat"


@dataclass(frozen=True)
class Probe:
    """One probe request: `form` None = the dialect's accepted form."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    form: str | None = None


def probes(models: dict[str, str]) -> dict[str, list[Probe]]:
    chat, image, video, gem = models["chat"], models["image"], models["video"], models["gemini"]
    return {
        "openai.chat": [Probe("POST", "/v1/chat/completions", {"model": chat})],
        "openai.responses": [Probe("POST", "/v1/responses", {"model": chat})],
        "openai.images": [Probe("POST", "/v1/images/generations", {"model": image})],
        "openai.videos": [Probe("GET", "/v1/videos?limit=1"), Probe("POST", "/v1/videos", {"model": video})],
        "gemini": [Probe("GET", "/v1beta/models?pageSize=1"),
                   Probe("POST", f"/v1beta/models/{gem}:generateContent", {})],
        "topapi": [Probe("POST", "/v1/getModelList", form="bare"), Probe("GET", "/responses/v1/models", form="bare")],
        "console": [Probe("POST", "/api/auth/login", {})],
    }


# where the key forms are tried, in order, until one accepts some form
FORM_PROBES = {
    "openai": lambda m: [Probe("GET", "/v1/models"), Probe("POST", "/v1/chat/completions", {
        "model": m["chat"], "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})],
    "gemini": lambda m: [Probe("GET", "/v1beta/models?pageSize=1"), Probe(
        "POST", f"/v1beta/models/{m['gemini']}:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 1}}),
        Probe("GET", "/gemini/v1beta/models?pageSize=1")],
}


@dataclass
class Found:
    """What the probe found: per surface whether offered and what answered; per dialect the accepted forms."""

    surfaces: dict[str, bool] = field(default_factory=dict)
    evidence: dict[str, list[str]] = field(default_factory=dict)  # surface -> ["POST /v1/... -> 404", ...]
    forms: dict[str, list[str]] = field(default_factory=dict)  # dialect -> accepted forms, preferred first
    form_evidence: dict[str, list[str]] = field(default_factory=dict)  # dialect -> ["bearer: 200", ...]
    refused: bool = False  # no form accepted anywhere, and some route refused every form with 401/403

    @property
    def offered(self) -> tuple[str, ...]:
        return tuple(s for s, ok in self.surfaces.items() if ok)

    def chosen_forms(self) -> dict[str, str]:
        return {d: (self.forms.get(d) or [DEFAULT_FORMS[d]])[0] for d in DIALECTS}

    def to_dict(self) -> dict[str, Any]:
        return {"surfaces": {s: {"offered": ok, "evidence": self.evidence.get(s, [])}
                             for s, ok in self.surfaces.items()},
                "forms": self.forms, "form_evidence": self.form_evidence}


class Unreachable(Exception):
    pass


def run_probe(send: Callable[[str, str, Any, str], httpx.Response], models: dict[str, str],
              surfaces: tuple[str, ...] = tuple(SURFACES)) -> Found:
    """Probe the target. `send(method, path, json_body, form)` sends one request with the key in `form`."""
    found = Found()

    def status(p: Probe, form: str) -> int:
        try:
            return send(p.method, p.path, p.body, form).status_code
        except httpx.TransportError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc or 'no answer'}") from None

    refused_everywhere_on_a_route = False
    for d in DIALECTS:
        accepted: list[str] = []
        evidence: list[str] = []
        for p in FORM_PROBES[d](models):
            seen = {form: status(p, form) for form in FORM_ORDER[d]}
            evidence.append(f"{p.method} {p.path}: " + ", ".join(f"{f} {s}" for f, s in seen.items()))
            refused_everywhere_on_a_route |= all(s in (401, 403) for s in seen.values())
            accepted = [f for f, s in seen.items() if 200 <= s < 300]
            if accepted:
                break
        found.forms[d] = accepted
        found.form_evidence[d] = evidence
    forms = found.chosen_forms()
    for surface in surfaces:
        evidence = []
        offered = False
        for p in probes(models)[surface]:
            form = p.form or forms[dialect(p.path)]
            s = status(p, form)
            evidence.append(f"{p.method} {p.path} ({form}) -> {s}")
            if s not in (404, 405):
                offered = True
                break
        found.surfaces[surface] = offered
        found.evidence[surface] = evidence
    found.refused = refused_everywhere_on_a_route and not any(found.forms.values())
    return found
