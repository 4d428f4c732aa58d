"""One page of rows as JSON, CSV (streamed) or Parquet; chosen by ``format=`` or ``Accept``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, Literal

import msgspec
import polars as pl
from starlette.responses import Response, StreamingResponse

from petrosa_api.rows import RowShape, polars_type

Format = Literal["json", "csv", "parquet"]

CSV_MEDIA_TYPE = "text/csv"
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
JSON_MEDIA_TYPE = "application/json"
# Rows per streamed CSV chunk: large enough to amortise the writes, small enough to stream.
CSV_CHUNK_ROWS = 500

_ENCODER = msgspec.json.Encoder()


def negotiate(requested: Format | None, accept: str | None) -> Format:
    """``format=`` wins; otherwise the first CSV or Parquet media type named in ``Accept``."""
    if requested is not None:
        return requested
    for part in (accept or "").split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media == CSV_MEDIA_TYPE:
            return "csv"
        if media in (PARQUET_MEDIA_TYPE, "application/x-parquet"):
            return "parquet"
    return "json"


def encode_json(body: Any) -> bytes:
    return _ENCODER.encode(body)


def json_response(body: Any, status_code: int = 200) -> Response:
    """``body`` encoded by msgspec: far faster than pydantic for thousands of rows."""
    return Response(_ENCODER.encode(body), status_code=status_code, media_type=JSON_MEDIA_TYPE)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return _ENCODER.encode(value).decode()
    return value


def _csv_chunks(shape: RowShape, rows: list[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(shape.columns)
    for begin in range(0, max(len(rows), 1), CSV_CHUNK_ROWS):
        for row in rows[begin : begin + CSV_CHUNK_ROWS]:
            writer.writerow([_cell(row[name]) for name in shape.columns])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _download_headers(filename: str, next_cursor: str | None) -> dict[str, str]:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if next_cursor is not None:
        headers["X-Next-Cursor"] = next_cursor
    return headers


def csv_response(
    shape: RowShape, rows: list[dict[str, Any]], stem: str, next_cursor: str | None
) -> Response:
    """Rows as CSV: header line, one line per row; lists as JSON text, null as empty."""
    return StreamingResponse(
        _csv_chunks(shape, rows),
        media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
        headers=_download_headers(f"{stem}.csv", next_cursor),
    )


def parquet_response(
    shape: RowShape, rows: list[dict[str, Any]], stem: str, next_cursor: str | None
) -> Response:
    """Rows as one Parquet file with typed columns (an empty page keeps its schema)."""
    schema = {name: polars_type(shape.types[name]) for name in shape.columns}
    frame = pl.DataFrame(
        {name: [row[name] for row in rows] for name in shape.columns}, schema=schema
    )
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return Response(
        buffer.getvalue(),
        media_type=PARQUET_MEDIA_TYPE,
        headers=_download_headers(f"{stem}.parquet", next_cursor),
    )
