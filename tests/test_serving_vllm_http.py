"""The vLLM backend's own HTTP connections (skyplex.models.vllm_http) against a scripted loopback server:
a request that ends any way but complete drops its connection at once (what makes vLLM abort it), a
complete one is kept alive and reused, a kept-alive connection the server closed is replaced without
the caller seeing it, and server-sent events are decoded the same however the bytes are cut."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skyplex.models.vllm_http import EventDecoder, HostPool, ServerTimedOut

GUARD_S = 60  # keeps a broken build from hanging; never reached when things work


class ScriptedServer:
    """Answers each request on a connection with ``reply(body)`` (bytes after the head), or never."""

    def __init__(self, reply=None) -> None:
        self.reply = reply
        self.connections = 0
        self.received = asyncio.Event()
        self.closed_by_client = asyncio.Event()
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
                body = await reader.readexactly(length)
                self.received.set()
                if self.reply is None:  # hold the request, as vLLM does while it generates
                    if await reader.read(1) == b"":
                        self.closed_by_client.set()
                    return
                writer.write(self.reply(body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client.set()
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()


def json_reply(body: bytes) -> bytes:
    payload = json.dumps({"echo": json.loads(body)}).encode()
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(payload) + payload


def run(coro) -> None:
    asyncio.run(asyncio.wait_for(coro, GUARD_S))


def test_complete_exchanges_share_one_kept_alive_connection():
    async def main() -> None:
        server = ScriptedServer(json_reply)
        async with server as url:
            pool = HostPool(url, timeout=GUARD_S)
            for i in range(3):
                async with pool.post("completions", json.dumps({"i": i}).encode(), {}) as response:
                    assert response.status == 200 and await response.json() == {"echo": {"i": i}}
            assert server.connections == 1
            pool.close()

    run(main())


def test_a_kept_alive_connection_the_server_closed_is_replaced_unseen():
    async def main() -> None:
        server = ScriptedServer(json_reply)
        async with server as url:
            pool = HostPool(url, timeout=GUARD_S)
            async with pool.post("completions", b"{}", {}) as response:
                await response.read()
            server.writers[0].close()  # the server's keep-alive timeout ran out
            await asyncio.sleep(0)
            async with pool.post("completions", b"{}", {}) as response:
                assert await response.json() == {"echo": {}}
            assert server.connections == 2

    run(main())


@pytest.mark.parametrize("cancellations", [1, 2])
def test_a_cancelled_request_drops_its_connection(cancellations):
    async def main() -> None:
        server = ScriptedServer(reply=None)
        async with server as url:
            pool = HostPool(url, timeout=GUARD_S)

            async def request() -> None:
                async with pool.post("completions", b"{}", {}) as response:
                    await response.read()

            task = asyncio.ensure_future(request())
            await server.received.wait()
            for _ in range(cancellations):  # a second cancellation lands in the clean-up of the first
                task.cancel()
                await asyncio.sleep(0)
            with pytest.raises(asyncio.CancelledError):
                await task
            await server.closed_by_client.wait()  # what makes vLLM abort the request

    run(main())


def test_leaving_before_the_end_of_the_body_drops_the_connection():
    def endless(body: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + b"5\r\ndata:\r\n" * 3

    async def main() -> None:
        server = ScriptedServer(endless)
        async with server as url:
            pool = HostPool(url, timeout=GUARD_S)
            async with pool.post("completions", b"{}", {}) as response:
                async for _ in response.chunks():
                    break
            await server.closed_by_client.wait()
            assert not pool._idle

    run(main())


def test_a_silent_server_times_out():
    async def main() -> None:
        async with ScriptedServer(reply=None) as url:
            pool = HostPool(url, timeout=0.2)
            with pytest.raises(ServerTimedOut):
                async with pool.post("completions", b"{}", {}) as response:
                    await response.read()

    run(main())


payloads = st.lists(st.binary(min_size=0, max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b), max_size=8)


@given(payloads, st.lists(st.integers(min_value=0, max_value=400), max_size=10), st.sampled_from([b"\n", b"\r\n"]))
def test_events_decode_the_same_however_the_bytes_are_cut(datas, cuts, newline):
    wire = b"".join(b": keep-alive" + newline + b"data: " + d + newline + newline for d in datas)
    points = sorted({min(c, len(wire)) for c in cuts} | {0, len(wire)})
    decoder = EventDecoder()
    got = []
    for start, end in zip(points, points[1:]):
        got += decoder.feed(wire[start:end])
    got += decoder.end()
    assert got == datas
