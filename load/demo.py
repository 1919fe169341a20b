"""`topapi load` with no --base-url: start the demo stack, warm it up, say what it is.

The demo stack compiles its schema validators and fills its caches on the first request of
each kind, which costs the first requests hundreds of ms (measured: TTFT 150 ms configured,
up to 730 ms seen in the first second). One request of each kind before the run keeps that
cold start out of numbers that are meant to describe the steady state; a deployment under
test gets no such help (use --warmup-s there).
"""

from __future__ import annotations

from typing import Any

import httpx

from topapi.demo_child import DemoChild

from .calls import CallOptions
from .scenarios import Scenario

VIDEO_MS = 2000  # the demo's video jobs: long enough to poll, short enough for a run


def start(scenario: Scenario, ttft_ms: float | None, itl_ms: float | None, extra: list[str]) -> tuple[DemoChild, dict]:
    ttft = scenario.demo[0] if ttft_ms is None else ttft_ms
    itl = scenario.demo[1] if itl_ms is None else itl_ms
    print(f"No --base-url: starting the demo stack (topapi serve --demo, mocks at TTFT {ttft:g} ms, "
          f"ITL {itl:g} ms) ...", flush=True)
    child = DemoChild(extra_args=["--mock-ttft-ms", str(ttft), "--mock-itl-ms", str(itl),
                                  "--mock-video-ms", str(VIDEO_MS), *extra])
    info = child.start()
    try:
        warm_up(info["base_url"], info["api_key"], CallOptions())
    except httpx.HTTPError as exc:
        child.stop()
        raise RuntimeError(f"the demo stack does not answer: {exc}") from None
    return child, info


def warm_up(base_url: str, api_key: str, o: CallOptions) -> None:
    chat: dict[str, Any] = {"model": o.chat_model, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}
    calls = [
        ("/v1/chat/completions", chat),
        ("/v1/chat/completions", {**chat, "stream": True, "stream_options": {"include_usage": True}}),
        ("/v1/responses", {"model": o.chat_model, "stream": True, "max_output_tokens": 2, "input": "hi"}),
        (f"/v1beta/models/{o.gemini_model}:streamGenerateContent?alt=sse",
         {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 2}}),
        ("/v1/images/generations", {"model": o.image_model, "prompt": "hi", "size": o.image_size}),
        ("/v1/videos", {"model": o.video_model, "prompt": "hi", "seconds": o.video_seconds}),
    ]
    headers = {"Authorization": f"Bearer {api_key}", "x-goog-api-key": api_key}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for path, body in calls:
            client.post(path, json=body).read()
