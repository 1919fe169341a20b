"""`topapi serve [--demo]`: run the gateway (WIRE.md "CLI contract")."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, fields
from pathlib import Path

from .config import GatewayConfig

CONFIG_ENV = "TOPAPI_GATEWAY_CONFIG"  # how worker processes get the parent's settings
DEMO_TTFT_MS, DEMO_ITL_MS = 20.0, 2.0  # the demo mocks' pace: a 600-token answer streams in ~1.2 s


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the reference gateway", description=(
        "Run the gateway. With --demo, also start the mock upstreams in-process, seed a platform admin, "
        "a node admin, user test101 with a key, four models and their nodes, and write DIR/demo.json."))
    p.add_argument("--demo", action="store_true", help="start the mocks and seed demo data")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--state-dir", type=Path, default=Path("state"), help="SQLite file, demo.json (default: ./state)")
    p.add_argument("--database-url", help="e.g. postgresql+asyncpg://user@host/db (default: SQLite in the state dir)")
    p.add_argument("--database-schema", help="PostgreSQL: keep the tables in this schema (created if missing)")
    d = GatewayConfig()
    p.add_argument("--read-timeout", type=float, default=d.read_timeout_s,
                   help="seconds of upstream silence before trying another node")
    p.add_argument("--connect-timeout", type=float, default=d.connect_timeout_s)
    p.add_argument("--breaker-threshold", type=int, default=d.breaker_threshold,
                   help="consecutive failures that take a node out of rotation")
    p.add_argument("--breaker-cooldown", type=float, default=d.breaker_cooldown_s,
                   help="seconds before a failed node gets a probe request")
    p.add_argument("--cache-ttl", type=float, default=None,
                   help="reload keys/models/nodes every N seconds (several instances on one database)")
    p.add_argument("--redis-url", default=os.environ.get("TOPAPI_REDIS_URL"),
                   help="redis://host:port/db: limits, spend and admin changes shared by every worker and "
                        "instance at once (env TOPAPI_REDIS_URL; without it they hold per process)")
    p.add_argument("--redis-prefix", default=d.redis_prefix,
                   help="start of every Redis key and channel name (one Redis, several gateways)")
    p.add_argument("--redis-timeout", type=float, default=d.redis_timeout_s,
                   help="seconds a Redis call may take before Redis counts as away (limits go per process)")
    p.add_argument("--sync-interval", type=float, default=d.sync_poll_s,
                   help="seconds between two reads of the admin change counter (workers without Redis)")
    p.add_argument("--shutdown-grace", type=float, default=d.shutdown_grace_s,
                   help="on SIGTERM, seconds that requests in flight get to finish")
    p.add_argument("--mock-video-ms", type=float, default=None,
                   help="with --demo: how long the Sora mock takes per video (default 3000)")
    # paced by default: a stream that arrives in one piece cannot show whether a relay in front of the demo
    # buffers it (topapi check's stream.unbuffered); 0 turns the pacing off
    p.add_argument("--mock-ttft-ms", type=float, default=DEMO_TTFT_MS,
                   help=f"with --demo: the mocks' time to first token (default {DEMO_TTFT_MS:g})")
    p.add_argument("--mock-itl-ms", type=float, default=DEMO_ITL_MS,
                   help=f"with --demo: the mocks' inter-token latency (default {DEMO_ITL_MS:g})")
    p.add_argument("--log-level", default="warning")
    p.set_defaults(func=run)


def config_from(args: argparse.Namespace) -> GatewayConfig:
    return GatewayConfig(state_dir=args.state_dir, database_url=args.database_url,
                         database_schema=args.database_schema,
                         read_timeout_s=args.read_timeout, connect_timeout_s=args.connect_timeout,
                         cache_ttl_s=args.cache_ttl, breaker_threshold=args.breaker_threshold,
                         breaker_cooldown_s=args.breaker_cooldown, redis_url=args.redis_url,
                         redis_prefix=args.redis_prefix, redis_timeout_s=args.redis_timeout,
                         sync_poll_s=args.sync_interval,
                         shutdown_grace_s=args.shutdown_grace)


def create_app():
    """uvicorn factory for worker processes: the settings come through the environment."""
    from .app import Gateway

    raw = json.loads(os.environ.get(CONFIG_ENV, "{}"))
    names = {f.name for f in fields(GatewayConfig)}
    config = GatewayConfig(**{k: v for k, v in raw.items() if k in names})
    config.state_dir = Path(config.state_dir)
    return Gateway(config)


def _metrics_dir(state_dir: Path) -> None:
    """Workers share their Prometheus values through files (gateway/metrics.py): the last run's go first."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(Path(state_dir).resolve() / "metrics")
    os.makedirs(path, exist_ok=True)
    for old in Path(path).glob("*.db"):
        old.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


def run(args: argparse.Namespace) -> int:
    import uvicorn

    config = config_from(args)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    demo = None
    if args.demo:
        from .demo import DemoStack

        mock = {name: value for name, value in (("video_ms", args.mock_video_ms), ("ttft_ms", args.mock_ttft_ms),
                                                 ("itl_ms", args.mock_itl_ms)) if value is not None}
        demo = DemoStack(config, host=args.host, port=args.port, mock_settings=mock)
        try:
            demo.start()
        except Exception as exc:
            print(f"topapi serve --demo: {exc}", file=sys.stderr)
            return 1
    if args.workers > 1:
        _metrics_dir(config.state_dir)
    os.environ[CONFIG_ENV] = json.dumps({**asdict(config), "state_dir": str(config.state_dir)})
    if demo:
        demo.print_ready()
    else:
        print(f"topapi gateway on http://{args.host}:{args.port}  (state: {config.state_dir})", flush=True)
    try:
        # no access log, no X-Forwarded-For rewriting (nothing reads the client address) and no
        # `server:` header: per-request work that nothing here needs
        uvicorn.run("gateway.cli:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level=args.log_level, access_log=False, loop="uvloop", http="httptools",
                    lifespan="on", timeout_graceful_shutdown=config.shutdown_grace_s, backlog=4096, proxy_headers=False,
                    server_header=False)
    finally:
        if demo:
            demo.stop()
    return 0
