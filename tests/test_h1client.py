"""gateway.h1client: the lean HTTP/1.1 client of the relay's hot path, against scripted servers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from gateway.h1client import BUFFER_HIGH, H1Client

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A TCP server that answers each connection with `script`; counts connections and requests."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request


def client(**kw: float) -> H1Client:
    return H1Client(connect_timeout_s=kw.get("connect", 2.0), read_timeout_s=kw.get("read", 2.0))


def keep_alive_json(server_ref: list[Server], body: bytes = b'{"ok":true}') -> Script:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await server_ref[0].read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Twice: a\r\nX-Twice: b\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    return script


async def test_json_round_trip_reuses_one_connection() -> None:
    ref: list[Server] = []
    async with Server(keep_alive_json(ref)) as srv:
        ref.append(srv)
        host = srv.url[len("http://"):]
        c = client()
        for _ in range(5):
            resp = await c.request("POST", srv.url + "/v1/chat/completions?x=1", b'{"a":1}',
                                   {"content-type": "application/json", "Authorization": "Bearer k"})
            assert resp.status == 200
            assert resp.headers.get("Content-Type") == "application/json"
            assert resp.headers.get("x-twice") == "a, b"
            assert await resp.read() == b'{"ok":true}'
        await c.close()
    assert srv.connections == 1 and len(srv.requests) == 5
    first = srv.requests[0]
    assert first.startswith(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\n")
    assert f"Host: {host}\r\n".encode() in first and b"Content-Length: 7\r\n" in first
    assert b"Authorization: Bearer k\r\n" in first and first.endswith(b'\r\n\r\n{"a":1}')


async def test_chunked_stream_arrives_piece_by_piece() -> None:
    go = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"6\r\ndata 1\r\n")
        await writer.drain()
        await go.wait()
        writer.write(b"6\r\ndata 2\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with Server(script) as srv:
        c = client()
        resp = await c.request("POST", srv.url + "/s", b"{}", {})
        assert await resp.content.readany() == b"data 1"  # before the rest was even written
        assert not resp.content.at_eof()
        go.set()
        assert await resp.content.readany() == b"data 2"
        assert await resp.content.readany() == b""
        assert resp.content.at_eof()
        assert len(c._idle[("http", "127.0.0.1", int(srv.url.rsplit(":", 1)[1]))]) == 1  # back in the pool
        await c.close()


async def test_a_pooled_connection_the_node_closed_is_replaced_transparently() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()  # then close: keep-alive on our side, not on the node's

    async with Server(script) as srv:
        c = client()
        assert await (await c.request("POST", srv.url, b"1", {})).read() == b"ok"
        await asyncio.sleep(0.05)  # the node's close arrives while the connection sits in the pool
        assert await (await c.request("POST", srv.url, b"2", {})).read() == b"ok"
        await c.close()
    assert srv.connections == 2


async def test_a_stale_connection_that_dies_on_write_is_retried_once() -> None:
    """The pool still believes in the connection (no close seen yet): the exchange fails before any
    byte of an answer, so the request goes again on a new connection."""
    answered = 0

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        await srv.read_request(reader)
        if srv.connections == 1 and answered == 1:
            return  # the second request on the first connection: hang up without answering
        answered += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        if srv.connections == 1:
            await srv.read_request(reader)  # then drop the connection without an answer

    async with Server(script) as srv:
        c = client()
        assert await (await c.request("POST", srv.url, b"1", {})).read() == b"ok"
        assert await (await c.request("POST", srv.url, b"2", {})).read() == b"ok"
        await c.close()
    assert srv.connections == 2 and len(srv.requests) == 3


async def test_failures_raise_aiohttps_types() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    async with Server(cut) as srv:
        c = client()
        resp = await c.request("POST", srv.url, b"{}", {})
        with pytest.raises(aiohttp.ClientPayloadError, match="before the end"):
            await resp.read()
        await c.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)  # and close without a word

    async with Server(silent) as srv:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await client().request("POST", srv.url, b"{}", {})

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with Server(garbage) as srv:
        with pytest.raises(aiohttp.ClientPayloadError, match="not valid HTTP"):
            await client().request("POST", srv.url, b"{}", {})

    async with Server(silent) as srv:
        closed = srv.url
    with pytest.raises(aiohttp.ClientOSError, match="cannot connect"):
        await client().request("POST", closed, b"{}", {})
    assert issubclass(aiohttp.ClientOSError, aiohttp.ClientError)


async def test_silence_past_the_read_timeout() -> None:
    async def stall_after_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    async with Server(stall_after_headers) as srv:
        c = client(read=0.2)
        resp = await c.request("POST", srv.url, b"{}", {})
        assert await resp.content.readany() == b"abc"
        with pytest.raises(TimeoutError, match="within 0.2 s"):
            await resp.content.readany()
        await c.close()

    async def no_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        await asyncio.sleep(5)

    async with Server(no_answer) as srv:
        with pytest.raises(TimeoutError):
            await client(read=0.2).request("POST", srv.url, b"{}", {})


async def test_a_body_that_ends_with_the_connection() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        await writer.drain()

    async with Server(script) as srv:
        c = client()
        assert await (await c.request("POST", srv.url, b"{}", {})).read() == b"until the end"
        assert not any(c._idle.values())  # not reusable
        await c.close()


async def test_a_large_body_with_flow_control() -> None:
    body = bytes(range(256)) * (4 * BUFFER_HIGH // 256)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 65536):
            writer.write(body[i:i + 65536])
            await writer.drain()
        await reader.read()

    async with Server(script) as srv:
        c = client()
        resp = await c.request("POST", srv.url, b"{}", {})
        got = bytearray()
        while chunk := await resp.content.readany():
            got += chunk
            await asyncio.sleep(0.001)  # a slow reader: the client pauses the socket meanwhile
        assert bytes(got) == body
        await c.close()


async def test_a_cancelled_read_closes_the_connection() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await writer.drain()
        await reader.read()  # returns when the client hangs up

    async with Server(script) as srv:
        c = client()
        resp = await c.request("POST", srv.url, b"{}", {})
        task = asyncio.create_task(resp.content.readany())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert resp._conn.closed and not any(c._idle.values())
        await c.close()


async def test_header_injection_and_bad_urls_are_refused() -> None:
    c = client()
    with pytest.raises(ValueError, match="line break"):
        await c.request("POST", "http://127.0.0.1:9/x", b"", {"x-key": "a\r\nInjected: yes"})
    with pytest.raises(aiohttp.InvalidURL):
        await c.request("POST", "ftp://example.test/x", b"", {})
