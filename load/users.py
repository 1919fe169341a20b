"""Locust users, one per kind of call. Closed loop: a user sends its next request when the last ends.

FastHttpUser (geventhttpclient) rather than HttpUser: cheaper per request, so one process
drives more concurrent streams before its own timing error grows; streams are read line by
line (streams.py), which is what keeps it accurate.
"""

from __future__ import annotations

import random
from typing import Any

import gevent
from locust import FastHttpUser, task

from . import calls
from .options import call_options, workload
from .samples import Sample
from .scenarios import get


class GatewayUser(FastHttpUser):
    abstract = True
    network_timeout = 300.0  # a slow stream is data, not an error; a dead one still ends
    connection_timeout = 10.0
    max_retries = 0
    concurrency = 2  # pooled connections per user; it has one request in flight at a time

    def on_start(self) -> None:
        # read here, not at import: workers receive the master's options before they spawn users
        parsed = self.environment.parsed_options
        self.call_options = call_options(parsed)
        self.workload = workload(parsed)
        self.think_s = parsed.think_s if parsed.think_s is not None else get(parsed.scenario).think_s
        gevent.sleep(random.uniform(0.0, parsed.start_jitter_s))
        calls.warm_up(self)

    def wait_time(self) -> float:
        return self.think_s

    def record(self, sample: Sample) -> Sample:
        run: Any = getattr(self.environment, "topapi", None)
        return run.recorder.add(sample) if run is not None else sample


class ChatStreamUser(GatewayUser):
    @task
    def chat_stream(self) -> None:
        calls.converse(self, calls.chat_stream)


class ChatUser(GatewayUser):
    @task
    def chat(self) -> None:
        calls.converse(self, calls.chat)


class ResponsesStreamUser(GatewayUser):
    @task
    def responses_stream(self) -> None:
        calls.converse(self, calls.responses_stream)


class GeminiStreamUser(GatewayUser):
    @task
    def gemini_stream(self) -> None:
        calls.converse(self, calls.gemini_stream)


class ImageUser(GatewayUser):
    @task
    def image(self) -> None:
        calls.image(self)


class VideoUser(GatewayUser):
    @task
    def video(self) -> None:
        calls.video(self)


USERS: dict[str, type[GatewayUser]] = {c.__name__: c for c in (
    ChatStreamUser, ChatUser, ResponsesStreamUser, GeminiStreamUser, ImageUser, VideoUser)}
# the call each user class makes: what an open-loop arrival of that kind calls (load/openloop.py)
# (a text call runs the workload's next conversation, turn by turn)
CALLS = {name: cls.tasks[0] for name, cls in USERS.items()}
