"""HTTP/1.1 to a vLLM server over connections this module owns (h11 on asyncio streams).

Why not a general-purpose client: a request to vLLM is aborted on the server only when its TCP
connection drops, so cancelling one must drop the connection *every* time. With a pooled client the
drop happens in the client's own clean-up, which awaits (a lock, a checkpoint) before it closes the
socket; a second cancellation landing there, or the loop stopping first, leaves the connection open
and the server generating for nobody. Here a request that ends any way but complete — cancelled,
failed, abandoned half-read — aborts its transport synchronously, before anything else is awaited,
and only a fully read, keep-alive exchange goes back to the pool.

One :class:`HostPool` serves one server from one event loop (asyncio transports belong to their loop).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import h11

#: bytes asked of the socket per read
READ_SIZE = 65536


class ServerUnreachable(Exception):
    """The connection could not be made, or broke before the response was complete."""


class ServerTimedOut(Exception):
    """No byte came from the server for the backend's timeout."""


class _Connection:
    """One HTTP/1.1 connection and its h11 state; :meth:`abort` drops it at once."""

    __slots__ = ("reader", "writer", "http", "timed_out", "_timer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.http = h11.Connection(our_role=h11.CLIENT)
        self.timed_out = False
        self._timer: asyncio.TimerHandle | None = None

    def abort(self) -> None:
        """Drop the connection now (no await): the server sees its client gone and aborts the request."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.writer.transport.abort()

    def arm(self, timeout: float) -> None:
        """(Re)start the idle timer: past ``timeout`` seconds without a byte, the connection is dropped."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(timeout, self._expire)

    def _expire(self) -> None:
        self.timed_out = True
        self._timer = None
        self.writer.transport.abort()

    def reusable(self) -> bool:
        return (
            self.http.our_state is h11.IDLE
            and self.http.their_state is h11.IDLE
            and not self.reader.at_eof()
            and not self.writer.transport.is_closing()
        )

    async def next_event(self, timeout: float) -> Any:
        while True:
            event = self.http.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.arm(timeout)
            try:
                data = await self.reader.read(READ_SIZE)
            except (ConnectionError, OSError) as exc:
                raise (ServerTimedOut() if self.timed_out else ServerUnreachable(str(exc) or type(exc).__name__)) from None
            if self.timed_out:
                raise ServerTimedOut()
            self.http.receive_data(data)  # b"" is the end of the stream


class HostPool:
    """Keep-alive connections to one server (``http`` or ``https``), used from one event loop."""

    def __init__(self, base_url: str, *, timeout: float, max_idle: int = 256) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.authority = parts.netloc.rsplit("@", 1)[-1]
        self.prefix = parts.path.rstrip("/")
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.timeout = timeout
        self.max_idle = max_idle
        self._idle: list[_Connection] = []

    def url(self, route: str) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.authority}{self.prefix}/{route}"

    async def _open(self) -> _Connection:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self.tls, limit=READ_SIZE), self.timeout
            )
        except asyncio.TimeoutError:
            raise ServerTimedOut() from None
        except OSError as exc:
            raise ServerUnreachable(str(exc) or type(exc).__name__) from None
        return _Connection(reader, writer)

    def _take(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.reusable():
                return conn
            conn.abort()
        return None

    def _give_back(self, conn: _Connection) -> None:
        if conn.http.our_state is h11.DONE and conn.http.their_state is h11.DONE:
            conn.http.start_next_cycle()
        if conn.reusable() and len(self._idle) < self.max_idle:
            if conn._timer is not None:
                conn._timer.cancel()
                conn._timer = None
            self._idle.append(conn)
        else:
            conn.abort()

    def close(self) -> None:
        """Drop every idle connection (in-flight ones end with their requests)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.abort()

    @asynccontextmanager
    async def post(self, route: str, payload: bytes, headers: dict[str, str]) -> AsyncIterator[Response]:
        """POST ``payload`` to ``route`` (relative to the base URL's path); yields the response once its
        status and headers are in. Leaving the block before the body was read to its end, by an error
        or a cancellation, drops the connection."""
        request = h11.Request(
            method="POST",
            target=f"{self.prefix}/{route}",
            headers=[("host", self.authority), ("content-length", str(len(payload))), *headers.items()],
        )
        conn = self._take()
        reused = conn is not None
        while True:
            if conn is None:
                conn = await self._open()
            try:
                wire = conn.http.send(request) or b""
                wire += conn.http.send(h11.Data(data=payload)) or b""
                wire += conn.http.send(h11.EndOfMessage()) or b""
                conn.writer.write(wire)
                head = await conn.next_event(self.timeout)
                while isinstance(head, h11.InformationalResponse):
                    head = await conn.next_event(self.timeout)
                if isinstance(head, h11.ConnectionClosed):
                    raise ServerUnreachable("the server closed the connection without answering")
                break
            except (ServerUnreachable, h11.RemoteProtocolError) as exc:
                conn.abort()
                if reused:  # a kept-alive connection the server had already closed: it never saw the request
                    conn, reused = None, False
                    continue
                raise ServerUnreachable(str(exc)) from None
            except BaseException:
                conn.abort()
                raise
        response = Response(conn, head, self.timeout)
        try:
            yield response
        except BaseException:
            conn.abort()
            raise
        if response.complete:
            self._give_back(conn)
        else:
            conn.abort()


class Response:
    """A response whose head is in; the body is read with :meth:`read` or :meth:`events`."""

    __slots__ = ("_conn", "status", "headers", "complete", "_timeout")

    def __init__(self, conn: _Connection, head: h11.Response, timeout: float) -> None:
        self._conn = conn
        self.status = head.status_code
        self.headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in head.headers}
        self.complete = False
        self._timeout = timeout

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        while True:
            try:
                event = await self._conn.next_event(self._timeout)
            except h11.RemoteProtocolError as exc:
                raise ServerUnreachable(f"the response broke off: {exc}") from None
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.complete = True
                return
            else:  # ConnectionClosed before the end of the message
                raise ServerUnreachable("the server closed the connection in the middle of its response")

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([chunk async for chunk in self.chunks()])

    async def json(self) -> Any:
        return json.loads(await self.read())

    async def events(self) -> AsyncIterator[bytes]:
        """The ``data:`` payloads of a server-sent event stream, in order (``[DONE]`` included)."""
        decoder = EventDecoder()
        async for chunk in self.chunks():
            for data in decoder.feed(chunk):
                yield data
        for data in decoder.end():
            yield data


class EventDecoder:
    """Server-sent events from bytes cut anywhere: :meth:`feed` returns the ``data:`` payload of each
    event completed so far (several ``data:`` lines of one event joined by newlines)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk
        out = []
        while (cut := _event_end(self._buffer)) is not None:
            block, self._buffer = self._buffer[: cut[0]], self._buffer[cut[1] :]
            data = _data_of(block)
            if data is not None:
                out.append(data)
        return out

    def end(self) -> list[bytes]:
        """The last event, when the stream ended without its blank line."""
        block, self._buffer = self._buffer, b""
        data = _data_of(block)
        return [data] if data is not None else []


def _data_of(block: bytes) -> bytes | None:
    lines = [line[5:].removeprefix(b" ") for line in block.splitlines() if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


def _event_end(buffer: bytes) -> tuple[int, int] | None:
    """Where the first event of ``buffer`` ends (a blank line, ``\\n\\n`` or ``\\r\\n\\r\\n``), if it does."""
    ends = [(i, i + len(mark)) for mark in (b"\n\n", b"\r\n\r\n") if (i := buffer.find(mark)) >= 0]
    return min(ends) if ends else None
