"""Pages and exports as JSON, CSV, Parquet or Arrow IPC; chosen by ``format=`` or ``Accept``.

Every format is written from the Arrow table the store's ``scan`` answers: JSON and CSV
text a column at a time (``columnar``), Parquet and Arrow by pyarrow's writers with real
``timestamp[ms, UTC]`` time columns and depth levels as lists. An export of a whole range
is written batch by batch as the store yields them, so it never holds more than one batch.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import io
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
from starlette.responses import Response, StreamingResponse

from petrosa_api.columnar import csv_header, csv_rows, json_rows
from petrosa_api.rows import SHAPES, RowShape
from petrosa_core.market.columns import arrow_schema
from petrosa_core.models import DatasetKind

Format = Literal["json", "csv", "parquet", "arrow"]

CSV_MEDIA_TYPE = "text/csv"
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
ARROW_MEDIA_TYPE = "application/vnd.apache.arrow.stream"
JSON_MEDIA_TYPE = "application/json"
FILE_FORMATS: tuple[Format, ...] = ("csv", "parquet", "arrow")
MEDIA_TYPES: dict[Format, str] = {
    "json": JSON_MEDIA_TYPE,
    "csv": f"{CSV_MEDIA_TYPE}; charset=utf-8",
    "parquet": PARQUET_MEDIA_TYPE,
    "arrow": ARROW_MEDIA_TYPE,
}
_ACCEPTED: dict[str, Format] = {
    CSV_MEDIA_TYPE: "csv",
    PARQUET_MEDIA_TYPE: "parquet",
    "application/x-parquet": "parquet",
    ARROW_MEDIA_TYPE: "arrow",
}
_SUFFIX: dict[Format, str] = {"json": "json", "csv": "csv", "parquet": "parquet", "arrow": "arrows"}
# Rows written at a time while exporting: one Parquet row group, one CSV or Arrow chunk.
EXPORT_CHUNK_ROWS = 10_000

# Fast gzip: a 1000-row JSON page shrinks ~12x in ~3 ms; level 9 takes 25 ms for 25% less.
GZIP_LEVEL = 1
# Smaller bodies go out as they are: compressing them saves less than it costs.
GZIP_MIN_BYTES = 1024
# Bodies from this size are compressed in a worker thread, off the event loop.
GZIP_THREAD_BYTES = 128 * 1024

_ENCODER = msgspec.json.Encoder()


def negotiate(requested: Format | None, accept: str | None) -> Format:
    """``format=`` wins; otherwise the first CSV, Parquet or Arrow media type in ``Accept``."""
    if requested is not None:
        return requested
    for part in (accept or "").split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in _ACCEPTED:
            return _ACCEPTED[media]
    return "json"


def encode_json(body: Any) -> bytes:
    return _ENCODER.encode(body)


def json_response(body: Any, status_code: int = 200) -> Response:
    """``body`` encoded by msgspec: far faster than pydantic for thousands of rows."""
    return Response(_ENCODER.encode(body), status_code=status_code, media_type=JSON_MEDIA_TYPE)


@functools.cache
def _fields_json(kind: DatasetKind) -> bytes:
    return _ENCODER.encode(SHAPES[kind].descriptions)


def json_page(kind: DatasetKind, table: pa.Table, pagination: dict[str, Any]) -> bytes:
    """``{"data": [rows], "pagination": {...}, "fields": {...}}``, as msgspec writes it."""
    rows = json_rows(SHAPES[kind], table)
    pages = _ENCODER.encode(pagination)
    return (
        b'{"data":' + rows + b',"pagination":' + pages + b',"fields":' + _fields_json(kind) + b"}"
    )


class _Drain:
    """A write-only file for pyarrow's writers whose output is taken away as it comes."""

    closed = False

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes | memoryview) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered here: written bytes wait in ``take``."""

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


class Encoder(Protocol):
    """A file written in parts: its opening bytes, the bytes of each table, its closing bytes."""

    def start(self) -> bytes: ...

    def add(self, table: pa.Table) -> bytes: ...

    def finish(self) -> bytes: ...


class _Csv:
    def __init__(self, kind: DatasetKind) -> None:
        self.shape: RowShape = SHAPES[kind]

    def start(self) -> bytes:
        return csv_header(self.shape)

    def add(self, table: pa.Table) -> bytes:
        return csv_rows(self.shape, table)

    def finish(self) -> bytes:
        return b""


class _Parquet:
    """One row group per table added; the footer when finished."""

    def __init__(self, kind: DatasetKind) -> None:
        self.schema = arrow_schema(kind)
        self.sink = _Drain()
        self.writer: pq.ParquetWriter | None = None

    def start(self) -> bytes:
        self.writer = pq.ParquetWriter(self.sink, self.schema)
        return self.sink.take()

    def add(self, table: pa.Table) -> bytes:
        assert self.writer is not None
        if table.num_rows:
            self.writer.write_table(table.cast(self.schema), row_group_size=table.num_rows)
        return self.sink.take()

    def finish(self) -> bytes:
        assert self.writer is not None
        self.writer.close()
        return self.sink.take()


class _Arrow:
    """The Arrow IPC stream format: the schema, one record batch per table, the end marker."""

    def __init__(self, kind: DatasetKind) -> None:
        self.schema = arrow_schema(kind)
        self.sink = _Drain()
        self.writer: pa.ipc.RecordBatchStreamWriter | None = None

    def start(self) -> bytes:
        self.writer = pa.ipc.new_stream(self.sink, self.schema)
        return self.sink.take()

    def add(self, table: pa.Table) -> bytes:
        assert self.writer is not None
        if table.num_rows:
            self.writer.write_table(table.cast(self.schema))
        return self.sink.take()

    def finish(self) -> bytes:
        assert self.writer is not None
        self.writer.close()
        return self.sink.take()


ENCODERS: dict[Format, Callable[[DatasetKind], Encoder]] = {
    "csv": _Csv,
    "parquet": _Parquet,
    "arrow": _Arrow,
}


def file_page(fmt: Format, kind: DatasetKind, table: pa.Table) -> bytes:
    """One page as a whole CSV, Parquet or Arrow file (an empty page keeps its columns)."""
    encoder = ENCODERS[fmt](kind)
    out = io.BytesIO()
    out.write(encoder.start())
    out.write(encoder.add(table))
    out.write(encoder.finish())
    return out.getvalue()


def download_headers(fmt: Format, stem: str, next_cursor: str | None) -> dict[str, str]:
    """``X-Next-Cursor`` for every format; a file name for the file formats."""
    headers: dict[str, str] = {}
    if fmt != "json":
        headers["Content-Disposition"] = f'attachment; filename="{stem}.{_SUFFIX[fmt]}"'
    if next_cursor is not None:
        headers["X-Next-Cursor"] = next_cursor
    return headers


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``Accept-Encoding`` names gzip (or ``*``) without ``q=0``."""
    for part in (accept_encoding or "").lower().split(","):
        coding, _, params = part.partition(";")
        if coding.strip() not in ("gzip", "*"):
            continue
        quality = params.strip().removeprefix("q=").strip() if "q=" in params else "1"
        try:
            return float(quality) > 0
        except ValueError:
            return False
    return False


async def gzip_body(body: bytes) -> bytes:
    if len(body) >= GZIP_THREAD_BYTES:
        return await asyncio.to_thread(gzip.compress, body, GZIP_LEVEL, mtime=0)
    return gzip.compress(body, GZIP_LEVEL, mtime=0)


async def gzip_stream(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` as one gzip stream, each flushed so a reader gets it as soon as it is made."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    async for chunk in chunks:
        out = await asyncio.to_thread(compressor.compress, chunk)
        yield out + compressor.flush(zlib.Z_SYNC_FLUSH)
    yield compressor.flush()


async def export_chunks(
    fmt: Format, kind: DatasetKind, tables: AsyncIterator[pa.Table]
) -> AsyncIterator[bytes]:
    """A whole file written as ``tables`` arrive; at most one chunk of rows held at a time.

    The opening bytes go out before the store's first batch, so a client sees the
    response start at once. Encoding runs in a worker thread (polars and pyarrow release
    the GIL), leaving the event loop free for other requests during a long export.
    """
    encoder = ENCODERS[fmt](kind)
    yield encoder.start()
    async for table in tables:
        for offset in range(0, table.num_rows, EXPORT_CHUNK_ROWS):
            chunk = table.slice(offset, EXPORT_CHUNK_ROWS)
            yield await asyncio.to_thread(encoder.add, chunk)
    yield encoder.finish()


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


def export_response(
    fmt: Format,
    kind: DatasetKind,
    tables: Callable[[], AsyncIterator[pa.Table]],
    stem: str,
    *,
    head: bool,
    compress: bool,
) -> Response:
    """A streamed export; a HEAD answers the same headers without reading the store.

    Parquet is compressed inside the file already, so it is never gzipped again.
    """
    headers = download_headers(fmt, stem, None)
    body = _nothing() if head else export_chunks(fmt, kind, tables())
    if compress and fmt != "parquet":
        headers.update({"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        body = body if head else gzip_stream(body)
    return StreamingResponse(body, media_type=MEDIA_TYPES[fmt], headers=headers)


class RangeNotSatisfiable(Exception):
    """A byte range that starts past the end of the body (HTTP 416)."""

    def __init__(self, start: int, size: int) -> None:
        super().__init__(f"the range starts at byte {start} of a {size}-byte body")
        self.size = size


def etag_of(body: bytes) -> str:
    """A strong validator of a page's bytes: a client resuming a range sees a change."""
    return f'"{zlib.crc32(body):08x}{len(body):x}"'


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The one range ``bytes=a-b``, ``a-`` or ``-n`` asks for, clipped; None to send it all.

    Several ranges, or a unit other than bytes, are answered with the whole body, as HTTP
    allows. A range starting past the end raises ``RangeNotSatisfiable``.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if not first:
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size:
        raise RangeNotSatisfiable(start, size)
    if start < 0 or end < start:
        return None
    return start, min(end, size - 1)


def _matches(if_none_match: str, etag: str) -> bool:
    """``If-None-Match``'s weak comparison: any listed tag, with or without ``W/``, or ``*``."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags


@dataclass(frozen=True)
class Conditions:
    """The request headers that shape a page's answer besides its content."""

    compress: bool = False
    byte_range: str | None = None
    if_range: str | None = None
    if_none_match: str | None = None


def page_response(
    fmt: Format, body: bytes, etag: str, headers: dict[str, str], when: Conditions
) -> Response | Awaitable[Response]:
    """One page: whole, a byte range of it (206), unchanged (304), or gzipped when accepted.

    Ranges and validators apply to the plain bytes, so a range request is never gzipped.
    """
    headers.update({"ETag": etag, "Accept-Ranges": "bytes"})
    if fmt != "parquet":
        headers["Vary"] = "Accept-Encoding"
    if when.if_none_match is not None and _matches(when.if_none_match, etag):
        return Response(status_code=304, headers=headers)
    if when.byte_range is not None and when.if_range in (None, etag):
        span = _byte_range(when.byte_range, len(body))
        if span is not None:
            start, end = span
            headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
            part = body[start : end + 1]
            return Response(part, status_code=206, media_type=MEDIA_TYPES[fmt], headers=headers)
    if when.compress and fmt != "parquet" and len(body) >= GZIP_MIN_BYTES:
        return _gzipped(fmt, body, headers)
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


async def _gzipped(fmt: Format, body: bytes, headers: dict[str, str]) -> Response:
    headers["Content-Encoding"] = "gzip"
    return Response(await gzip_body(body), media_type=MEDIA_TYPES[fmt], headers=headers)
