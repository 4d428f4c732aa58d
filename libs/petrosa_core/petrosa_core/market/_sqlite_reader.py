"""SQLite's columnar reads, in reader processes: ADBC must not share a process with aiosqlite.

ADBC's SQLite driver bundles its own SQLite library. Two SQLite libraries in one process
do not see each other's POSIX locks (closing one's file handle drops the other's locks),
which can corrupt a database the same process writes through aiosqlite. So each store
keeps a couple of reader processes (``python -m petrosa_core.market._sqlite_reader``),
each with one read-only connection, fed over its stdin and answering on its stdout.

Plain pipes, not ``multiprocessing``: a reader needs no lock, queue or resource tracker,
and it ends on its own when its stdin closes, which happens however the service dies
(SIGKILL included). Its stderr is discarded, so the service's log stays JSON only.

Messages are msgpack, each prefixed by its length. A request is ``[sql, params]``; an
answer is ``["ok", arrow_ipc_bytes]``, ``["file", path]`` for a table over ``PIPE_BYTES``
(Arrow IPC in shared memory, mapped by the caller and unlinked at once, so a large table
is not copied through the pipe), or ``["error", error_class_name, message]``.
"""

from __future__ import annotations

import asyncio
import os
import struct
import sys
import tempfile
from typing import TYPE_CHECKING, Any, BinaryIO

import msgspec

from petrosa_core.errors import StoreError, StoreUnavailable

if TYPE_CHECKING:
    import pyarrow as pa

PIPE_BYTES = 1 << 20
# Reader processes per SQLite database: two keep one long range from stalling every page.
READERS = 2
_LENGTH = struct.Struct("!I")
_SPILL_PREFIX = "petrosa-scan-"


def spill_dir() -> str:
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else tempfile.gettempdir()


# -- the reader process ---------------------------------------------------------------


def _answer(connection: Any, sql: str, params: list[Any], folder: str) -> list[Any]:
    import pyarrow as pa

    cursor = connection.cursor()
    try:
        cursor.execute(sql, params)
        table = cursor.fetch_arrow_table()
    finally:
        cursor.close()
    if table.nbytes <= PIPE_BYTES:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return ["ok", sink.getvalue().to_pybytes()]
    fd, path = tempfile.mkstemp(prefix=_SPILL_PREFIX, suffix=".arrow", dir=folder)
    with os.fdopen(fd, "wb") as file, pa.ipc.new_stream(file, table.schema) as writer:
        writer.write_table(table)
    return ["file", path]


def _read_message(stream: BinaryIO) -> Any:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    return msgspec.msgpack.decode(stream.read(length))


def _write_message(stream: BinaryIO, message: Any) -> None:
    body = msgspec.msgpack.encode(message)
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def serve(path: str) -> None:
    """The reader's loop: answer each request until stdin closes."""
    import adbc_driver_sqlite.dbapi as adbc

    connection = adbc.connect(f"file:{path}?mode=ro", autocommit=True)
    folder = spill_dir()
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    _write_message(answers, ["ready"])
    while (request := _read_message(requests)) is not None:
        sql, params = request
        try:
            answer = _answer(connection, sql, params, folder)
        except Exception as exc:  # every failure goes back to the caller, which classifies it
            answer = ["error", type(exc).__name__, str(exc)[:2000]]
        _write_message(answers, answer)


# -- the service's side ----------------------------------------------------------------


class _Reader:
    """One reader process and its pipes; one request at a time."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, path: str) -> _Reader:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            path,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        reader = cls(proc)
        if await reader._receive() != ["ready"]:
            raise StoreUnavailable("a SQLite reader process did not start")
        return reader

    async def ask(self, sql: str, params: list[Any]) -> list[Any]:
        assert self.proc.stdin is not None
        body = msgspec.msgpack.encode([sql, params])
        self.proc.stdin.write(_LENGTH.pack(len(body)) + body)
        await self.proc.stdin.drain()
        return list(await self._receive())

    async def _receive(self) -> Any:
        assert self.proc.stdout is not None
        header = await self.proc.stdout.readexactly(_LENGTH.size)
        return msgspec.msgpack.decode(await self.proc.stdout.readexactly(_LENGTH.unpack(header)[0]))

    async def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


class SqliteReaders:
    """Up to ``READERS`` reader processes on one SQLite file, started when first needed."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._idle: list[_Reader] = []
        self._all: list[_Reader] = []
        self._free = asyncio.Semaphore(READERS)

    @property
    def pids(self) -> list[int]:
        return [reader.proc.pid for reader in self._all]

    async def warm(self) -> None:
        """Start every reader now, so that the first scans do not wait for them."""
        await asyncio.gather(*(self.run("SELECT 1", []) for _ in range(READERS)))

    async def run(self, sql: str, params: list[Any]) -> list[Any]:
        """One statement's answer from an idle reader, or a new one.

        A reader found dead (killed while idle) is replaced and the statement asked again,
        once; a new reader that fails too makes the read ``StoreUnavailable``.
        """
        async with self._free:
            answer = None
            if self._idle:
                reader = self._idle.pop()
                try:
                    answer = await reader.ask(sql, params)
                except (OSError, asyncio.IncompleteReadError):
                    await self._drop(reader)
            if answer is None:
                reader = await self._started()
                try:
                    answer = await reader.ask(sql, params)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    await self._drop(reader)
                    code = reader.proc.returncode
                    raise StoreUnavailable(f"a SQLite reader process died (exit {code})") from exc
            self._idle.append(reader)
        if answer[0] == "error":
            raise _classified(answer[1], answer[2])
        return list(answer)

    async def _drop(self, reader: _Reader) -> None:
        self._all.remove(reader)
        await reader.close()

    async def _started(self) -> _Reader:
        try:
            reader = await _Reader.start(self._path)
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise StoreUnavailable(f"cannot start a SQLite reader process: {exc}") from exc
        self._all.append(reader)
        return reader

    async def fetch(self, sql: str, params: list[Any]) -> pa.Table:
        return load(await self.run(sql, params))

    async def close(self) -> None:
        readers, self._all, self._idle = self._all, [], []
        await asyncio.gather(*(reader.close() for reader in readers))


def load(answer: list[Any]) -> pa.Table:
    import pyarrow as pa

    how, payload = answer
    if how == "ok":
        return pa.ipc.open_stream(payload).read_all()
    try:
        # Mapped, not read: the table's buffers are the file's pages, which outlive the name.
        return pa.ipc.open_stream(pa.memory_map(payload)).read_all()
    finally:
        os.unlink(payload)


def _classified(name: str, message: str) -> StoreError:
    """ADBC's errors follow PEP 249: an operational error is an outage, others a fault."""
    if name in ("OperationalError", "InternalError", "InterfaceError", "OSError"):
        return StoreUnavailable(f"columnar read failed: {message}")
    return StoreError(f"columnar read failed: {name}: {message}")


if __name__ == "__main__":
    serve(sys.argv[1])
