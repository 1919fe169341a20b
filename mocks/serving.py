"""Run ASGI apps on loopback ports: in a background thread (tests, the demo stack) or in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

ARRIVED = "mock.arrived"  # scope key: time.monotonic() when the request's first bytes were parsed


class ArrivalStampedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol, stamping each request when its first bytes are parsed.

    A burst of requests read in one loop iteration becomes a queue of tasks, each of which
    runs only after the ones before it: a mock that started a request's clock when its task
    ran would add that queue to every later request's TTFT (200 streams at once: ~40 ms).
    From the parse stamp the clock runs as a client sees it, whatever the queue."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[ARRIVED] = time.monotonic()  # type: ignore[literal-required]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def config(app: Any, host: str = "127.0.0.1", port: int = 0, **kw: Any) -> uvicorn.Config:
    """uvicorn settings for a mock: uvloop + httptools, no access log, no lifespan, quick shutdown."""
    opts = dict(host=host, port=port or free_port(host), log_level="warning", access_log=False,
                lifespan="off", loop="uvloop", http=ArrivalStampedHttp, timeout_graceful_shutdown=1,
                backlog=4096)
    opts.update(kw)
    return uvicorn.Config(app, **opts)


class ServerThread:
    """`with ServerThread(app) as srv: srv.url` serves `app` on a free loopback port until the block ends."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **kw: Any) -> None:
        self.server = uvicorn.Server(config(app, host, port, **kw))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.host, self.port = host, self.server.config.port
        self.thread = threading.Thread(target=self._run, name=f"uvicorn:{self.port}", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        # own loop per thread: uvicorn.Server.run() would install signal handlers
        self.loop = asyncio.new_event_loop()
        with contextlib.suppress(Exception):
            import uvloop

            self.loop = uvloop.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
