"""Schemathesis 4 (its Python engine, the one behind `schemathesis run`) over one of our OpenAPI
documents against a target, with the results folded into one `Sub` per operation.

- Credentials go per security scheme (`auth.openapi`), so `ignored_auth` knows what to remove.
- Streams: schemathesis validates each SSE event against the media type's schema, but reads only
  `max-stream-events` of them (default 20): raised here so whole streams are checked.
- Phases examples, coverage, fuzzing (positive and negative data), and stateful where the
  document has links. Shrinking is off and health checks are suppressed: this is a conformance
  run, not a bug hunt. How many cases run is decided by counts (per operation and phase), never
  by the clock, and Hypothesis' example database is off: with a seed, every run sends the same
  cases. A deadline (`Part.deadline_s`, only when asked for) stops the engine cleanly; operations
  not reached are then reported as untested, never as failed.
- A `guard` (called before every request the engine sends, in every phase; the extra probes of
  checks such as ignored_auth bypass it, but they are copies of a request it already edited) and
  an `observe` hook (after every response) let a caller keep fuzzing away from data it must not
  touch (conformance/admin_sandbox.py). Schemathesis dispatches `before_call` to global hooks
  only, so one global hook is registered once and routes by a marker in the document.
- One engine at a time per process (`_ENGINE_LOCK`): two running at once in threads fail with
  "AST constructor recursion depth mismatch" (CPython 3.11's AST validator is not thread-safe),
  and both are CPU-bound on one GIL anyway, so running them together saves almost nothing.
- Reproductions are schemathesis' curl lines with credentials replaced by placeholders (its own
  output sanitizing is off: it also blanks body fields such as `max_tokens`).
- The document is a dict (a subset of the loaded one), so schemathesis does not know where it came
  from: `Part.location` (the file's URI) is set as the schema's location, as `from_path` does, so
  references to sibling documents (gateway.yaml's `openai.yaml#/...`) resolve.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import StopReason, events, from_schema

from .registry import Sub

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance", "negative_data_rejection", "ignored_auth")
PHASES = ("examples", "coverage", "fuzzing", "stateful")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
MAX_STREAM_EVENTS = 100_000
MARKER = "x-topapi-run"
MAX_CURL = 4000  # a reproduction with a huge generated body is cut (the case stays in the count)

Guard = Callable[[Any], None]  # (schemathesis Case) -> None; may edit the case in place
Observer = Callable[[Any, Any], None]  # (Case, schemathesis Response) -> None


@dataclass(frozen=True)
class Plan:
    """How one operation is exercised, when it differs from the part's defaults."""

    phases: tuple[str, ...] = PHASES
    coverage_mode: str = "all"  # "negative": boundary cases that must be refused, no positive ones
    max_examples: int | None = None


@dataclass
class Part:
    """One run: a document (or the operations of it that `include` keeps) against one base URL."""

    document: dict[str, Any]
    base_url: str
    credentials: dict[str, str]  # security scheme name -> its credential (bearer token or API key)
    location: str | None = None  # URI the document's relative `$ref`s resolve against (its file's)
    include: Callable[[str, str], bool] = lambda method, path: True  # (METHOD, path)
    max_examples: int = 10
    deadline_s: float | None = None  # stop the engine after this long (None: run every planned case)
    request_timeout_s: float = 60.0
    phases: tuple[str, ...] = PHASES
    checks: tuple[str, ...] = CHECKS
    workers: int = 1
    secrets: dict[str, str] = field(default_factory=dict)  # secret text -> placeholder in reproductions
    guard: Guard | None = None
    observe: Observer | None = None
    plans: dict[str, Plan] = field(default_factory=dict)  # label -> plan
    seed: int | None = None  # the same seed and document generate the same cases
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request (`topapi check -H`)


@dataclass
class Finding:
    check: str
    title: str
    message: str
    curl: str | None
    count: int = 1


@dataclass
class OperationReport:
    label: str
    cases: int = 0
    findings: dict[str, Finding] = field(default_factory=dict)  # first finding per check
    errors: list[str] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)  # why phases skipped it
    reached: bool = False

    def sub(self, stopped: str | None) -> Sub:
        if self.findings or self.errors:
            parts = [f"{f.check}: {f.title}" + (f" ({f.message})" if f.message else "")
                     + (f" ×{f.count}" if f.count > 1 else "") + (f" · reproduce: {f.curl}" if f.curl else "")
                     for f in self.findings.values()]
            parts += [f"error: {e}" for e in self.errors]
            return Sub(self.label, False, " | ".join(parts))
        if not self.reached:
            why = stopped or "; ".join(sorted(self.skipped)) or "schemathesis generated no case for it"
            return Sub(self.label, True, f"untested: {why}")
        return Sub(self.label, True, f"{self.cases} cases" + (f" (run cut short: {stopped})" if stopped else ""))


# -- the global hooks, routed per run ---------------------------------------------------------------------------

_RUNS: dict[str, Part] = {}
_RUNS_LOCK = threading.Lock()
_ENGINE_LOCK = threading.Lock()
_HOOKS_INSTALLED = False


def _part_of(case: Any) -> Part | None:
    raw = getattr(case.operation.schema, "raw_schema", None)
    run_id = raw.get(MARKER) if isinstance(raw, dict) else None
    return _RUNS.get(run_id) if run_id else None


def _install_hooks() -> None:
    global _HOOKS_INSTALLED
    with _RUNS_LOCK:
        if _HOOKS_INSTALLED:
            return

        @schemathesis.hook
        def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
            part = _part_of(case)
            if part is not None and part.guard is not None:
                part.guard(case)

        @schemathesis.hook
        def after_call(context: Any, case: Any, response: Any) -> None:
            part = _part_of(case)
            if part is not None and part.observe is not None:
                part.observe(case, response)

        _HOOKS_INSTALLED = True


# -- configuration --------------------------------------------------------------------------------------------


def _auth(document: dict[str, Any], credentials: dict[str, str]) -> dict[str, dict[str, str]]:
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    out = {}
    for name, value in credentials.items():
        scheme = schemes.get(name) or {}
        if scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
            out[name] = {"bearer": value}
        elif scheme.get("type") == "apiKey":
            out[name] = {"api_key": value}
        elif scheme:
            raise ValueError(f"security scheme {name!r} of type {scheme.get('type')!r} is not supported")
    return out


def _operation_config(part: Part, document: dict[str, Any], label: str, plan: Plan) -> dict[str, Any]:
    method, path = label.split(" ", 1)
    op_id = document["paths"][path][method.lower()].get("operationId")
    # by operationId: `include-path` also matches paths that merely end like it
    entry: dict[str, Any] = {"include-operation-id": op_id} if op_id else {"include-name": label}
    phases = [p for p in plan.phases if p in part.phases]
    entry["phases"] = {p: {"enabled": p in phases} for p in PHASES}
    if "coverage" in phases:
        entry["phases"]["coverage"]["generation"] = {"mode": plan.coverage_mode}
    if plan.max_examples is not None:
        entry["generation"] = {"max-examples": plan.max_examples}
    return entry


def config_for(part: Part, document: dict[str, Any] | None = None) -> SchemathesisConfig:
    document = part.document if document is None else document
    return SchemathesisConfig.from_dict({
        **({"seed": part.seed} if part.seed is not None else {}),
        "base-url": part.base_url,
        **({"headers": dict(part.headers)} if part.headers else {}),
        "workers": part.workers,
        "max-stream-events": MAX_STREAM_EVENTS,
        "request-timeout": part.request_timeout_s,
        "continue-on-failure": True,
        "suppress-health-check": ["all"],
        "warnings": False,
        "output": {"sanitization": {"enabled": False}},
        "auth": {"openapi": _auth(part.document, part.credentials)},
        "checks": {"enabled": False, **{c: {"enabled": True} for c in part.checks}},
        "phases": {p: {"enabled": p in part.phases} for p in PHASES},
        # no example database: a case that failed once must not come back in the next run only
        "generation": {"mode": "all", "max-examples": part.max_examples, "no-shrink": True, "database": "none"},
        "operations": [_operation_config(part, document, label, plan) for label, plan in part.plans.items()
                       if label in operations(document, part.include)],
    })


def operations(document: dict[str, Any], include: Callable[[str, str], bool]) -> list[str]:
    """Labels ("POST /v1/chat/completions") of the document's operations that `include` keeps."""
    return [f"{m.upper()} {path}" for path, item in (document.get("paths") or {}).items()
            for m in item if m in METHODS and include(m.upper(), path)]


def subset(document: dict[str, Any], include: Callable[[str, str], bool]) -> dict[str, Any]:
    """A copy of the document with only the operations `include` keeps, and no link to the others.
    (Filtering inside schemathesis instead trips over per-operation configs and dangling links.)"""
    doc = copy.deepcopy(document)
    kept_ids = set()
    for path in list(doc.get("paths") or {}):
        item = doc["paths"][path]
        for m in [m for m in item if m in METHODS]:
            if include(m.upper(), path):
                kept_ids.add(item[m].get("operationId"))
            else:
                del item[m]
        if not any(m in METHODS for m in item):
            del doc["paths"][path]
    named = (doc.get("components") or {}).get("links") or {}
    for item in doc.get("paths", {}).values():
        for m in [m for m in item if m in METHODS]:
            for response in (item[m].get("responses") or {}).values():
                links = response.get("links") if isinstance(response, dict) else None
                for name in list(links or {}):
                    link = links[name]
                    if "$ref" in link:
                        link = named.get(link["$ref"].rsplit("/", 1)[-1], {})
                    if link.get("operationId") not in kept_ids:
                        del links[name]
    return doc


# -- running ----------------------------------------------------------------------------------------------------


def _short(text: str, limit: int = 240) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut(curl: str | None) -> str | None:
    """A reproduction as it is (whitespace matters in bodies), cut when huge."""
    if curl is None or len(curl) <= MAX_CURL:
        return curl
    return curl[:MAX_CURL] + " …(cut)"


def _mask(text: str | None, secrets: dict[str, str]) -> str | None:
    if text is None:
        return None
    for secret, placeholder in list(secrets.items()):  # list(): the sandbox adds tokens meanwhile
        if secret:
            text = text.replace(secret, placeholder)
    return text


def run(part: Part) -> list[Sub]:
    """Run the engine over the part's operations; one Sub per operation, in document order."""
    with _ENGINE_LOCK:
        return _run(part)


def _run(part: Part) -> list[Sub]:
    _install_hooks()
    run_id = uuid.uuid4().hex
    doc = subset(part.document, part.include)
    doc[MARKER] = run_id
    labels = operations(doc, part.include)
    reports = {label: OperationReport(label) for label in labels}
    schema = schemathesis.openapi.from_dict(doc, config=config_for(part, doc))
    schema.location = part.location  # what from_path sets: the base of references to other files
    with _RUNS_LOCK:
        _RUNS[run_id] = part
    stream = from_schema(schema).execute()
    timer = threading.Timer(part.deadline_s, stream.stop) if part.deadline_s else None
    started = time.monotonic()
    stopped_by: str | None = None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        for event in stream:
            if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
                _fold(event.recorder, reports, part.secrets)
                skip = getattr(event, "skip_reason", None)
                if skip and event.recorder.label in reports:
                    reports[event.recorder.label].skipped.add(skip)
            elif isinstance(event, events.NonFatalError):
                report = reports.get(event.label)
                message = _short(f"{event.info.title}: {event.info.message}")
                if report is not None:
                    report.errors.append(message)
                else:
                    for report in reports.values():
                        report.errors.append(f"run-wide: {message}")
            elif isinstance(event, events.FatalError):
                raise RuntimeError(f"schemathesis could not run: {event.exception}")
            elif isinstance(event, events.EngineFinished) and event.stop_reason != StopReason.COMPLETED:
                stopped_by = event.stop_reason.skip_explanation or str(event.stop_reason)
    finally:
        if timer is not None:
            timer.cancel()
        with _RUNS_LOCK:
            _RUNS.pop(run_id, None)
    if part.deadline_s and time.monotonic() - started >= part.deadline_s:
        stopped_by = f"the deadline of {part.deadline_s:.0f}s (--schema-budget) was reached"
    return [reports[label].sub(stopped_by) for label in labels]


def _fold(recorder: Any, reports: dict[str, OperationReport], secrets: dict[str, str]) -> None:
    """Count a scenario's cases per operation and keep the first failure of each check."""
    for case_id, node in recorder.cases.items():
        label = node.value.operation.label
        report = reports.get(label)
        if report is None:
            continue
        report.reached = True
        report.cases += 1
        for check in recorder.checks.get(case_id, []):
            info = check.failure_info
            if info is None:
                continue
            failure = info.failure
            target = reports.get(getattr(failure, "operation", None) or label, report)
            known = target.findings.get(check.name)
            if known is not None:
                known.count += 1
                continue
            target.findings[check.name] = Finding(check.name, _short(failure.title, 120),
                                                  _short(_mask(failure.message, secrets) or ""),
                                                  _cut(_mask(info.code_sample, secrets)))
