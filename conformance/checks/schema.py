"""Layer 1: schemathesis over specs/openapi/gateway.yaml, one check per part of the document
(relay routes with the key; `/api` with a disposable platform admin), one Sub per operation.

Repeatable and fast enough for every commit: counts decide how many cases run, never the clock
(with `--seed`, every run sends the same cases), and the cases go where they find something:
- The sweep: every operation gets the examples phase (the seed's requests are the documents'
  examples) and fuzzing with positive and negative data, `--max-examples` cases each.
  Coverage (every boundary value the schema defines, hundreds of cases per operation) runs with
  negative data only, on POST and PATCH: a positive relay case is a model call (money on a real
  deployment), a positive admin one creates a resource.
- Cheaper where the document is costly and the gateway adds little: Gemini's model calls get
  GEMINI_EXAMPLES fuzzed cases and no coverage (their request schemas cost ~0.5 s of generation
  per case, and the gateway relays their bodies as they are), aliases (the same operation under
  another path: /v1beta vs /gemini/v1beta) the examples and one fuzzed case.
- The focus: an operation with a finding in the sweep runs again with coverage of every kind and
  FOCUS times the fuzzed cases, so the report shows how far the problem goes.
- Stateful links (video id -> retrieve/content) run where the document has them.
- Each part runs in a child process (conformance/schema_worker.py).
Knobs (Target fields; `topapi check --schema-phases/--schema-budget/--seed`): `schema_phases`
(e.g. ("examples",) for a quick smoke run), `schema_budget_s` (a deadline per part for slow
targets: what it cuts is reported as untested, and runs stop being repeatable), `schema_seed`
(the same cases on every run).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from typing import Any

import specs

from .. import schemathesis_run as st
from ..admin_sandbox import Sandbox
from ..context import Ctx
from ..registry import Sub, check
from ..schema_worker import run_isolated
from ..surfaces import dialect, surface_of

DOCUMENT = "gateway"
GEMINI_CALL = re.compile(r":(generateContent|streamGenerateContent|countTokens)$")
GEMINI_EXAMPLES = {"countTokens": 3}  # fuzzed cases per Gemini model call (default 5); countTokens' schema is largest
FOCUS = 5
_VERSION = re.compile(r"^v\d+(beta\d*|alpha\d*)?$")
_DOC_FIELDS = ("operationId", "summary", "description", "tags")


def is_admin(method: str, path: str) -> bool:
    return path.startswith("/api/")


def is_relay(method: str, path: str) -> bool:
    return not is_admin(method, path)


def _document(ctx: Ctx) -> dict[str, Any]:
    if DOCUMENT not in specs.names():
        ctx.skip(f"specs/openapi/{DOCUMENT}.yaml is not installed")
    return specs.load(DOCUMENT)


def _security(doc: dict[str, Any], method: str, path: str) -> list[dict[str, Any]]:
    op = doc["paths"][path][method.lower()]
    return op["security"] if "security" in op else doc.get("security") or []


FORM_SCHEME = {"bare": "KeyHeader", "bearer": "BearerKey", "x-api-key": "XApiKey", "x-goog-api-key": "GoogApiKey",
               "query": "KeyQuery"}


def credential_schemes(doc: dict[str, Any], labels: list[str], forms: dict[str, str] | None = None) -> list[str]:
    """Security schemes to give the credential to. With `forms` (dialect -> the key form the target accepts):
    those forms' schemes. Else one that every operation accepts when there is one (so auth probes remove
    exactly it), else the first alternative of each operation."""
    reqs = [_security(doc, *label.split(" ", 1)) for label in labels]
    reqs = [r for r in reqs if r]  # operations without auth (login, /healthz)
    if not reqs:
        return []
    if forms:
        named = {name for r in reqs for alt in r for name in alt}
        return [s for s in dict.fromkeys(FORM_SCHEME[f] for f in forms.values() if f in FORM_SCHEME) if s in named]
    common = [name for alt in reqs[0] for name in alt if all(any(name in a for a in r) for r in reqs)]
    if common:
        return [common[0]]
    return list(dict.fromkeys(name for r in reqs for name in r[0]))


def _alias_key(doc: dict[str, Any], label: str) -> tuple[str, str, str]:
    method, path = label.split(" ", 1)
    op = {k: v for k, v in doc["paths"][path][method.lower()].items() if k not in _DOC_FIELDS}
    segments = path.strip("/").split("/")
    versions = [i for i, s in enumerate(segments) if _VERSION.match(s)]
    tail = "/".join(segments[versions[-1] + 1:] if versions else segments)
    return method, tail, json.dumps(op, sort_keys=True, default=str)


def plans(doc: dict[str, Any], labels: list[str], *, max_examples: int,
          focus: frozenset[str] = frozenset()) -> dict[str, st.Plan]:
    """How each operation is exercised (see the module's docstring); `focus`: operations that had a finding."""
    out: dict[str, st.Plan] = {}
    first: dict[tuple[str, str, str], str] = {}
    for label in labels:
        key = _alias_key(doc, label)
        if label in focus:
            out[label] = st.Plan(phases=("examples", "coverage", "fuzzing"), max_examples=max_examples * FOCUS)
        elif key in first:
            out[label] = st.Plan(phases=("examples", "fuzzing"), max_examples=1)
        elif m := GEMINI_CALL.search(label):
            first[key] = label
            out[label] = st.Plan(phases=("examples", "fuzzing"), max_examples=GEMINI_EXAMPLES.get(m.group(1), 5))
        else:
            first[key] = label
            if label.startswith(("POST ", "PATCH ")):
                out[label] = st.Plan(coverage_mode="negative")
    return out


def _part(ctx: Ctx, doc: dict[str, Any], include: Any, credential: str, *, relay: bool, **kw: Any) -> st.Part:
    t = ctx.target

    def offered(method: str, path: str) -> bool:  # the surfaces the target offers (and the profile runs)
        surface = surface_of(path, method)
        return include(method, path) and t.offers(surface) and (t.in_profile is None or surface in t.in_profile)

    labels = st.operations(doc, offered)
    phases = tuple(t.schema_phases or st.PHASES)
    schemes = credential_schemes(doc, labels, t.forms if relay else None)
    return st.Part(doc, t.root, dict.fromkeys(schemes, credential), headers=dict(t.headers), include=offered,
                   location=specs.path(DOCUMENT).as_uri(),
                   max_examples=t.max_examples, deadline_s=t.schema_budget_s, phases=phases,
                   request_timeout_s=t.timeout_s, plans=plans(doc, labels, max_examples=t.max_examples),
                   seed=t.schema_seed, **kw)


def sweep_and_focus(part: st.Part) -> list[Sub]:
    """The sweep over every operation, then the focus run over those with a finding (module docstring).
    A deadline (--schema-budget) covers both: the focus run gets what the sweep left of it, or does not run."""
    started = time.monotonic()
    subs = st.run(part)
    failing = frozenset(s.name for s in subs if s.status == "failed")
    if not failing or part.phases == ("examples",):  # a smoke run stays one
        return subs
    left = part.deadline_s - (time.monotonic() - started) if part.deadline_s else None
    if left is not None and left < 1:
        return subs
    include = part.include

    def failed(method: str, path: str) -> bool:
        return include(method, path) and f"{method} {path}" in failing

    focus = dataclasses.replace(part, include=failed, phases=tuple(p for p in part.phases if p != "stateful"),
                                deadline_s=left,
                                plans=plans(part.document, sorted(failing), max_examples=part.max_examples,
                                            focus=failing))
    more = {s.name: s for s in st.run(focus)}
    return [_merged(s, more.get(s.name)) for s in subs]


def _merged(sweep: Sub, focus: Sub | None) -> Sub:
    if focus is None or sweep.status != "failed":
        return sweep
    return dataclasses.replace(sweep, message=f"{sweep.message} || focus run ({FOCUS}x cases, every kind of coverage): "
                   f"{focus.message}")


def relay_subs(ctx: Ctx) -> list[Sub]:
    doc = _document(ctx)
    key = ctx.target.api_key
    return sweep_and_focus(_part(ctx, doc, is_relay, key, relay=True,
                                 secrets={key: "<API_KEY>", **ctx.target.secrets}))


def admin_subs(ctx: Ctx) -> list[Sub]:
    doc = _document(ctx)
    if not ctx.target.has_admin:
        ctx.skip("needs admin credentials (--admin-user/--admin-password)")
    with Sandbox(ctx) as box:
        part = _part(ctx, doc, is_admin, box.token, relay=False, guard=box.guard, observe=box.observe,
                     secrets=box.secrets)
        return sweep_and_focus(part)


PARTS = {"relay": relay_subs, "admin": admin_subs}  # run in a child process: conformance/schema_worker.py


@check("schema.relay", "schemathesis over the relay operations of gateway.yaml (examples, coverage, fuzzing, "
       "stateful; positive and negative data; every response and SSE event validated), one result per "
       "operation", layer="schema", slow=True)
def relay(ctx: Ctx) -> list[Sub]:
    _document(ctx)
    return [with_cause(s) for s in run_isolated(ctx.target, "relay")]


def with_cause(sub: Sub) -> Sub:
    """The root cause an operation's first finding shares with the protocol checks, when it is one of theirs:
    auth not enforced, an error body in the wrong dialect's shape. (A server error stays the operation's own:
    schemathesis' cases may be valid requests, so it is not "an invalid request answered 5xx".)"""
    if sub.status != "failed" or sub.cause:
        return sub
    first = sub.message.split(" | ", 1)[0]
    cause = None
    if first.startswith("ignored_auth:"):
        cause = "refusal.401"
    elif first.startswith("response_schema_conformance:") and re.search(r"for status code [45]\d\d", first):
        cause = f"errors.{dialect(sub.name.split(' ', 1)[-1])}_shape"
    return dataclasses.replace(sub, cause=cause) if cause else sub


@check("schema.admin", "schemathesis over the consoles' API (/api) of gateway.yaml as a disposable platform "
       "admin, mutations confined to resources the run creates, one result per operation", layer="schema",
       admin=True, slow=True, surface="console", needs=("setup.admin",))
def admin(ctx: Ctx) -> list[Sub]:
    _document(ctx)
    return run_isolated(ctx.target, "admin")
