"""The hot path's lean Redis connection (gateway/redis_pipe.py): scripts, pipelining, time-outs, reconnects."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from scaleout_support import need_redis

from gateway.redis_pipe import RedisPipe, Script


async def test_scripts_load_once_and_calls_pipeline_in_order() -> None:
    pipe = RedisPipe.from_url(need_redis(), timeout_s=2)
    script = Script(f"return {{ARGV[1], '{secrets.token_hex(4)}'}}")  # a script this Redis has never seen
    try:
        first = await pipe.evalsha(script, [], ["a"])
        assert first[0] == b"a"
        answers = await asyncio.gather(*(pipe.evalsha(script, [], [str(i)]) for i in range(50)))
        assert [a[0] for a in answers] == [str(i).encode() for i in range(50)]
        with pytest.raises(ResponseError):
            await pipe.call(b"NOSUCHCOMMAND")
        assert await pipe.call(b"PING") == b"PONG"  # the connection goes on after an error reply
    finally:
        pipe.close()


async def test_a_silent_server_times_out_and_a_dead_one_is_refused_then_reconnected() -> None:
    silent_connections = []

    async def silent(reader, writer):
        silent_connections.append(writer)
        await reader.read(1 << 16)  # never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pipe = RedisPipe("127.0.0.1", port, timeout_s=0.2)
    try:
        t0 = asyncio.get_running_loop().time()
        results = await asyncio.gather(pipe.call(b"PING"), pipe.call(b"PING"), return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results)
        assert asyncio.get_running_loop().time() - t0 < 2
        server.close()
        await server.wait_closed()
        for w in silent_connections:
            w.close()
        with pytest.raises((OSError, RedisConnectionError)):
            await pipe.call(b"PING")
    finally:
        pipe.close()
