"""A TCP proxy in front of FerretDB that loses the database's reply to chosen commands:
the command reaches the server and is applied, its reply never reaches the client, and
the client's connection is closed (as when a network drops between the two). It reads
the MongoDB wire protocol's message header (length, requestID, responseTo) only, and
picks the commands to sabotage by the bytes of their OP_MSG body."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections.abc import Callable

OP_MSG = 2013


class LossyMongoProxy:
    def __init__(self, upstream_port: int, match: Callable[[bytes], bool], times: int,
                 host: str = "127.0.0.1") -> None:
        self.upstream_port, self.match, self.host = upstream_port, match, host
        self.remaining = times
        self.lost: list[int] = []  # request ids whose replies were dropped
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def __enter__(self) -> LossyMongoProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, self.host, 0), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *_: object) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            writer.close()
            return
        doomed: set[int] = set()

        async def upstream() -> None:  # client -> server
            while True:
                message = await _message(reader)
                request_id, opcode = struct.unpack_from("<i", message, 4)[0], struct.unpack_from(
                    "<i", message, 12)[0]
                if opcode == OP_MSG and self.remaining > 0 and self.match(message[16:]):
                    self.remaining -= 1
                    doomed.add(request_id)
                up_writer.write(message)
                await up_writer.drain()

        async def downstream() -> None:  # server -> client
            while True:
                message = await _message(up_reader)
                response_to = struct.unpack_from("<i", message, 8)[0]
                if response_to in doomed:
                    self.lost.append(response_to)
                    return  # applied; the reply is lost and the connection closed
                writer.write(message)
                await writer.drain()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        with contextlib.suppress(Exception):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for w in (writer, up_writer):
            with contextlib.suppress(Exception):
                w.close()


async def _message(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(16)
    length = struct.unpack_from("<i", header, 0)[0]
    return header + await reader.readexactly(length - 16)
