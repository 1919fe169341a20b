"""The locustfile's own command-line options (also shown in Locust's web UI).

`topapi load` passes the same options to `locust`; with plain `locust -f load/locustfile.py`
give them yourself (every one has a default except the API key: $TOPAPI_API_KEY works).
"""

from __future__ import annotations

import os
from typing import Any

from .arrivals import PATTERNS
from .calls import CallOptions
from .scenarios import MIXED_TEXT, SCENARIOS
from .workload import Workload

D = CallOptions()


class _Args:
    """Adds to Locust's parser (web UI keywords kept) or to a plain argparse one (`topapi load`)."""

    def __init__(self, parser: Any, locust: bool) -> None:
        self.parser, self.locust = parser, locust

    def add_argument(self, *names: str, **kw: Any) -> None:
        if not self.locust:
            kw.pop("include_in_web_ui", None)
            kw.pop("is_secret", None)
        self.parser.add_argument(*names, **kw)


def add_arguments(parser: Any, *, locust: bool = True) -> None:
    # not an argument group: only Locust's parser itself takes the web UI keywords (is_secret...)
    g = _Args(parser, locust)
    g.add_argument("--scenario", choices=list(SCENARIOS), default="chat-stream", include_in_web_ui=False,
                   help="what to run: " + "; ".join(f"{s.name}: {s.description}" for s in SCENARIOS.values()))
    g.add_argument("--api-key", default=os.environ.get("TOPAPI_API_KEY", ""), is_secret=True,
                   help="the gateway key (default: $TOPAPI_API_KEY)")
    g.add_argument("--slo", default="", help="gates, e.g. ttft_p95=300ms,itl_p95=40ms,error_rate=0.01 "
                                             "(added to the scenario's defaults; see load/slo.py)")
    g.add_argument("--report-dir", default="", help="write summary.json and PNG plots here")
    g.add_argument("--chat-model", default=D.chat_model)
    g.add_argument("--gemini-model", default=D.gemini_model)
    g.add_argument("--image-model", default=D.image_model)
    g.add_argument("--video-model", default=D.video_model)
    g.add_argument("--prompt", default=D.prompt)
    g.add_argument("--max-tokens", type=int, default=D.max_tokens, help="output tokens asked per answer")
    g.add_argument("--image-size", default=D.image_size)
    g.add_argument("--video-seconds", default=D.video_seconds, choices=("4", "8", "12"))
    g.add_argument("--video-poll-s", type=float, default=D.video_poll_s)
    g.add_argument("--start-jitter-s", type=float, default=1.0,
                   help="each user waits a random 0..N s before its first request: Locust starts a second's "
                        "worth of users at once, and users in lockstep queue behind each other at the server")
    g.add_argument("--warmup-s", type=float, default=0.0,
                   help="leave the first seconds of the run out of summary.json and the gates (cold caches)")
    g.add_argument("--think-s", type=float, default=None,
                   help="pause between a user's requests (default: the scenario's, 0 but for mixed)")
    g.add_argument("--mock", action="append", default=[], include_in_web_ui=False,
                   help="NAME=URL of a mock upstream behind the gateway (repeat): routing, failover and "
                        "fidelity read its /_mock/stats and /_mock/config")
    g.add_argument("--weights", default="", help="routing: the nodes' weights, e.g. openai-a=3,openai-b=1")
    g.add_argument("--stats-interval", type=float, default=0.25, help="seconds between polls of the mocks' stats")
    g.add_argument("--fail-node", default="", help="failover: the node to fail (default: the last --mock)")
    g.add_argument("--fail-at", type=float, default=None, help="failover: seconds into the run (default: 1/5 of -t)")
    g.add_argument("--recover-at", type=float, default=None,
                   help="failover: seconds into the run (default: 1/2 of -t)")
    g.add_argument("--fault", default="", help='failover: the fault, JSON as /_mock/config takes it '
                                                '(default {"rate": 1, "kind": "status", "status": 500})')
    # open loop (load/openloop.py): requests leave on a schedule, whatever the target does
    g.add_argument("--rate", type=float, default=None,
                   help="open loop: requests per second over all processes (closed-loop users when not given)")
    g.add_argument("--arrival", choices=PATTERNS, default="poisson",
                   help="open loop: gaps between requests: constant, poisson (default) or gamma (--burstiness)")
    g.add_argument("--burstiness", type=float, default=1.0,
                   help="open loop, gamma: the gaps' shape; 1 is Poisson, below 1 burstier, above 1 smoother")
    g.add_argument("--max-concurrency", type=int, default=0,
                   help="open loop: at most this many requests in flight per process; the rest wait in a queue "
                        "and count as late (default: no cap)")
    g.add_argument("--arrival-seed", type=int, default=None, help="open loop: seed of the schedule (default: random)")
    g.add_argument("--mix", default="", help="weights of the calls, e.g. chat-stream=6,chat=3,image=1 (default: "
                                             "the scenario's; for mixed " + MIXED_TEXT + ")")
    # what each request asks (load/workload.py)
    g.add_argument("--prompt-tokens", default="", help="prompt lengths, MEAN[:STDEV[:MIN[:MAX]]] tokens, e.g. 550:150 "
                                                       "(default: --prompt as written)")
    g.add_argument("--output-tokens", default="", help="output lengths asked (max_tokens and 'write N words'), "
                                                       "MEAN[:STDEV[:MIN[:MAX]]], e.g. 150:20 (default: --max-tokens)")
    g.add_argument("--conversations", default="", help="a JSONL file of conversations (ShareGPT or messages shape; "
                                                       "'sample': the one shipped), run turn by turn with history")
    g.add_argument("--workload-seed", type=int, default=None, help="seed of the lengths and the conversations' order")
    g.add_argument("--progress", action="store_true", default=False, include_in_web_ui=False,
                   help="print a live progress line (topapi load sets it)")


def workload(parsed: Any) -> Workload:
    return Workload(prompt=parsed.prompt, max_tokens=parsed.max_tokens, prompt_tokens=parsed.prompt_tokens,
                    output_tokens=parsed.output_tokens, conversations=parsed.conversations,
                    seed=parsed.workload_seed)


def call_options(parsed: Any) -> CallOptions:
    return CallOptions(api_key=parsed.api_key, chat_model=parsed.chat_model, gemini_model=parsed.gemini_model,
                       image_model=parsed.image_model, video_model=parsed.video_model, prompt=parsed.prompt,
                       max_tokens=parsed.max_tokens, image_size=parsed.image_size,
                       video_seconds=parsed.video_seconds, video_poll_s=parsed.video_poll_s)
