"""`topapi mock [openai|gemini|sora|all]`: serve mock upstreams until stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import signal
import sys

from .settings import FAULT_KINDS, Fault, Settings

KINDS = ("openai", "gemini", "sora")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mock", help="run deterministic OpenAI/Gemini/Sora mock upstreams",
                       description="Serve mock upstreams (see MOCKS.md). With `all`, one port each, printed.")
    p.add_argument("kind", nargs="?", default="all", choices=(*KINDS, "all"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0,
                   help="port (with `all`: first of three consecutive ports); 0 picks free ports")
    add_settings_flags(p)
    p.set_defaults(func=run)


def add_settings_flags(p: argparse.ArgumentParser) -> None:
    d, f = Settings(), Fault()
    g = p.add_argument_group("latency and faults (same names as POST /_mock/config)")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--node-name", default=None, help="name in x-mock-node and stats (default: the kind)")
    g.add_argument("--ttft-ms", type=float, default=d.ttft_ms)
    g.add_argument("--ttft-per-stream-ms", type=float, default=d.ttft_per_stream_ms,
                   help="TTFT grows by this for every other request in flight when one arrives (default 0)")
    g.add_argument("--itl-ms", type=float, default=d.itl_ms)
    g.add_argument("--jitter-ms", type=float, default=d.jitter_ms)
    g.add_argument("--tokens-per-chunk", type=int, default=d.tokens_per_chunk)
    g.add_argument("--video-ms", type=float, default=d.video_ms)
    g.add_argument("--fault-rate", type=float, default=f.rate)
    g.add_argument("--fault-kind", choices=FAULT_KINDS, default=f.kind)
    g.add_argument("--fault-status", type=int, default=f.status)
    g.add_argument("--fault-after-chunks", type=int, default=f.after_chunks)
    g.add_argument("--fault-hang-s", type=float, default=f.hang_s)
    g.add_argument("--fault-slow-itl-ms", type=float, default=f.slow_itl_ms)
    g.add_argument("--api-key", default=d.api_key, help="accept only this key, refusing others as the real API "
                   "does (OpenAI: 401 invalid_api_key; Gemini: 400 API_KEY_INVALID); default: any non-empty key")


def settings_from(args: argparse.Namespace, node_name: str) -> Settings:
    s = Settings(seed=args.seed, node_name=args.node_name or node_name, ttft_ms=args.ttft_ms,
                 ttft_per_stream_ms=args.ttft_per_stream_ms, itl_ms=args.itl_ms, jitter_ms=args.jitter_ms,
                 tokens_per_chunk=args.tokens_per_chunk, video_ms=args.video_ms, api_key=args.api_key,
                 fault=Fault(rate=args.fault_rate, kind=args.fault_kind, status=args.fault_status,
                             after_chunks=args.fault_after_chunks, hang_s=args.fault_hang_s,
                             slow_itl_ms=args.fault_slow_itl_ms))
    s.validate()
    return s


def build(kind: str, settings: Settings):
    if kind == "openai":
        from .openai_app import OpenAIMock

        return OpenAIMock(settings)
    if kind == "gemini":
        from .gemini_app import GeminiMock

        return GeminiMock(settings)
    from .sora_app import SoraMock

    return SoraMock(settings)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from .serving import config

    kinds = KINDS if args.kind == "all" else (args.kind,)
    if not 0 <= args.port <= 65535 - len(kinds) + 1:
        print(f"topapi mock: --port must be between 0 and {65535 - len(kinds) + 1}", file=sys.stderr)
        return 2
    try:
        servers = []
        for i, kind in enumerate(kinds):
            name = kind if args.kind == "all" or not args.node_name else args.node_name
            app = build(kind, settings_from(args, name))
            cfg = config(app, args.host, args.port + i if args.port else 0)
            server = uvicorn.Server(cfg)
            # one handler for all servers (below): uvicorn's own, per server, would chain them
            # through re-raised signals and end SIGTERM with the default action (exit status -15)
            server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
            servers.append((kind, server))
    except ValueError as exc:
        print(f"topapi mock: {exc}", file=sys.stderr)
        return 2
    # what start-up built lives as long as the process: out of the collector's sight, a full
    # collection no longer walks it (~20-40 ms with the specs loaded: a pause in every stream's pacing)
    gc.collect()
    gc.freeze()

    async def main() -> int:
        loop = asyncio.get_running_loop()

        def stop() -> None:
            for _, srv in servers:
                srv.force_exit = srv.should_exit  # a second signal: stop without waiting for streams
                srv.should_exit = True

        async def serve(srv: uvicorn.Server) -> int:
            try:
                await srv.serve()
            except SystemExit as exc:  # uvicorn exits when it cannot start (e.g. port taken), having logged why
                return int(exc.code or 1)
            return 0

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        tasks = [asyncio.create_task(serve(srv)) for _, srv in servers]
        # announce the URLs only once every server listens: readers may connect right away
        while not all(srv.started for _, srv in servers):
            if any(t.done() for t in tasks):
                stop()
                return max(await asyncio.gather(*tasks))
            await asyncio.sleep(0.005)
        urls = {kind: f"http://{args.host}:{srv.config.port}" for kind, srv in servers}
        for kind, url in urls.items():
            suffix = "/v1" if kind != "gemini" else ""
            print(f"{kind:7s} {url}   (SDK base_url: {url}{suffix}; stats: {url}/_mock/stats)", flush=True)
        print(json.dumps(urls), flush=True)
        # what exists now (specs, validators, code) lives as long as the process: keep it out of the
        # collector's full passes, which otherwise stall every stream for tens of ms now and then
        gc.freeze()
        return max(await asyncio.gather(*tasks))

    import uvloop

    return uvloop.run(main())
