"""The scenarios: which Locust users run, in what blend, and what a run checks by default.

`--slo` adds to (and per name overrides) a scenario's default gates. Users run a closed loop;
`think_s` paces them where a blend would otherwise be decided by which call is fastest
(an image from a mock takes a millisecond, a stream a second). `demo` is the mocks'
latency when `topapi load` starts the demo stack itself: enough TTFT/ITL that streaming is
measurable, none where the point is request throughput (routing, failover).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    users: dict[str, int]  # Locust user class name -> weight
    default_slo: str = "error_rate=0.01"
    watch_nodes: bool = False  # poll the mocks' /_mock/stats for node shares
    failover: bool = False
    fidelity: bool = False
    model: str = "chat"  # which --*-model the scenario's nodes serve
    demo: tuple[float, float] = (150.0, 20.0)  # (ttft_ms, itl_ms) of the demo stack's mocks
    think_s: float = 0.0  # pause between a user's requests (--think-s overrides)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("chat-stream", "chat completions, streamed (TTFT, ITL, E2E)", {"ChatStreamUser": 1}),
    Scenario("chat", "chat completions, JSON", {"ChatUser": 1}),
    Scenario("responses-stream", "Responses API, streamed", {"ResponsesStreamUser": 1}),
    Scenario("gemini-stream", "Gemini streamGenerateContent?alt=sse", {"GeminiStreamUser": 1}, model="gemini"),
    Scenario("images", "image generation", {"ImageUser": 1}, model="image", demo=(0.0, 0.0)),
    Scenario("video", "video jobs: create -> poll -> download (time to completion)", {"VideoUser": 1},
             model="video", demo=(0.0, 0.0)),
    Scenario("mixed", "a weighted blend of every endpoint",
             {"ChatStreamUser": 6, "ChatUser": 3, "ResponsesStreamUser": 3, "GeminiStreamUser": 3,
              "ImageUser": 1, "VideoUser": 1}, model="mixed", think_s=1.0),
    Scenario("routing", "chat, JSON; node shares from the mocks' stats against the nodes' weights",
             {"ChatUser": 1}, default_slo="error_rate=0.01,share_error_pp=3", watch_nodes=True, demo=(0.0, 0.0)),
    Scenario("failover", "chat streams while one node fails everything mid-run, then recovers",
             {"ChatStreamUser": 1}, default_slo="error_rate=0.01,route_around_s=5,recover_s=30,failing_share=0.02",
             watch_nodes=True, failover=True, demo=(0.0, 0.0)),
    Scenario("fidelity", "chat streams: the TTFT and ITL the gateway adds to the mocks' configured ones",
             {"ChatStreamUser": 1}, default_slo="error_rate=0.01,ttft_added_p50=10ms,itl_added_p50=2ms",
             fidelity=True),
)}


# call name (as in --mix and in the reports) -> the Locust user class that makes that call
CALL_USERS = {"chat-stream": "ChatStreamUser", "chat": "ChatUser", "responses-stream": "ResponsesStreamUser",
              "gemini-stream": "GeminiStreamUser", "image": "ImageUser", "video": "VideoUser"}
MIXED_TEXT = ",".join(f"{call}={SCENARIOS['mixed'].users[user]:g}" for call, user in CALL_USERS.items())


def weights(scenario: Scenario, mix: str) -> dict[str, float]:
    """User class name -> weight: the scenario's blend, or `--mix chat-stream=6,chat=3,...`."""
    if not mix.strip():
        return dict(scenario.users)
    out: dict[str, float] = {}
    for part in mix.split(","):
        if not part.strip():
            continue
        name, sep, raw = part.partition("=")
        name = name.strip()
        if name not in CALL_USERS:
            raise ValueError(f"--mix: unknown call {name!r}; known: {', '.join(CALL_USERS)}")
        try:
            weight = float(raw) if sep else 1.0
        except ValueError:
            raise ValueError(f"--mix: {part.strip()!r}: the weight is not a number") from None
        if weight < 0:
            raise ValueError(f"--mix: {name}'s weight must be >= 0")
        out[CALL_USERS[name]] = weight
    if not any(out.values()):
        raise ValueError("--mix: at least one call needs a weight above 0")
    return out


def chooser(blend: dict[str, float], rng: random.Random) -> Callable[[], str]:
    """A function that picks the next name by weight (open loop: the call of each arrival)."""
    names = [n for n, w in blend.items() if w > 0]
    cum = list(itertools.accumulate(blend[n] for n in names))
    if len(names) == 1:
        return lambda: names[0]
    return lambda: names[min(bisect.bisect_right(cum, rng.random() * cum[-1]), len(names) - 1)]


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
