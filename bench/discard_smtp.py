"""A discarding SMTP server for the delivery benchmarks, in a process of its own.

The harness's discard sink (bench/_harness.py, aiosmtpd) tops out near 2,000 messages/s on
one core, all of it its own per-command overhead, so a client faster than that would measure
the server. This one is an asyncio `Protocol` (uvloop when installed) that speaks just enough
ESMTP for smtplib (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; PIPELINING advertised),
keeps no message, and counts the `X-Dedupe-Key` header of each accepted one, so that a
benchmark can check exactly-once (and the duplicates of a kill -9) at full speed.

Use `with discard_server() as server:`; `server.port`, `server.stats(prefix)` ->
{"received", "distinct", "duplicates": {key: count}, "cpu_seconds"} for the keys starting
with `prefix` (and the server's CPU so far),
`server.reset()`. The process stops when the block is left, when its parent dies, or after
`max_life` seconds.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

HEADER = b"\r\nX-Dedupe-Key: "
END_OF_DATA = b"\r\n.\r\n"
EHLO_REPLY = b"250-discard\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n"


class _Session(asyncio.Protocol):
    def __init__(self, keys: Counter):
        self.keys = keys
        self.buffer = b""
        self.in_data = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(b"220 discard ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = []
        while True:
            if self.in_data:
                end = self.buffer.find(END_OF_DATA)
                if end < 0:
                    break
                message, self.buffer = self.buffer[:end], self.buffer[end + len(END_OF_DATA):]
                self.in_data = False
                at = message.find(HEADER)
                key = message[at + len(HEADER):message.find(b"\r\n", at + len(HEADER))] if at >= 0 else b""
                self.keys[key] += 1
                out.append(b"250 OK discarded\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line, self.buffer = self.buffer[:end], self.buffer[end + 2:]
            verb = line[:4].upper()
            if verb == b"EHLO":
                out.append(EHLO_REPLY)
            elif verb == b"DATA":
                self.in_data = True
                out.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                out.append(b"221 Bye\r\n")
                self.transport.write(b"".join(out))
                self.transport.close()
                return
            elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                out.append(b"250 OK\r\n")
            else:
                out.append(b"502 Command not implemented\r\n")
        if out:
            self.transport.write(b"".join(out))


def _serve(port: int, conn, max_life: float) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # the standard loop is slower but the same
        pass
    keys: Counter = Counter()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Session(keys), "127.0.0.1", port, backlog=256)
        conn.send(("ready", port))
        parent, deadline = os.getppid(), time.monotonic() + max_life
        while time.monotonic() < deadline and os.getppid() == parent:
            if not conn.poll():
                await asyncio.sleep(0.05)
                continue
            request = conn.recv()
            if request[0] == "stop":
                break
            if request[0] == "reset":
                keys.clear()
                conn.send(("ok", None))
            elif request[0] == "stats":
                prefix = request[1].encode()
                mine = {k: c for k, c in keys.items() if k.startswith(prefix)}
                conn.send(("ok", {"received": sum(mine.values()), "distinct": len(mine),
                                  "duplicates": {k.decode(): c for k, c in mine.items() if c > 1},
                                  "total_received": sum(keys.values()), "cpu_seconds": time.process_time()}))
        server.close()

    asyncio.run(main())


@dataclass
class DiscardServer:
    port: int
    _conn: object

    def stats(self, prefix: str) -> dict:
        self._conn.send(("stats", prefix))
        return self._conn.recv()[1]

    def reset(self) -> None:
        self._conn.send(("reset",))
        self._conn.recv()


@contextmanager
def discard_server(max_life: float = 3600.0) -> Iterator[DiscardServer]:
    from tools import devenv

    ctx = multiprocessing.get_context("spawn")
    for attempt in range(3):  # a free port can be taken between free_port() and bind
        port = devenv.free_port()
        conn, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(port, child, max_life), name="bench-discard-smtp", daemon=True)
        proc.start()
        child.close()
        if conn.poll(30):
            try:
                if conn.recv()[0] == "ready":
                    break
            except EOFError:
                pass
        proc.join(5)
        if attempt == 2:
            raise RuntimeError("the discarding SMTP server did not start")
    try:
        yield DiscardServer(port, conn)
    finally:
        try:
            conn.send(("stop",))
        except OSError:
            pass
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
