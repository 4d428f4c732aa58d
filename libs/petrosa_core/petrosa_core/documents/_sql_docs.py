"""Document collections in the metadata store's ``documents`` table, and its tables, read-only.

Writes run in one transaction that first locks what it changes (``BEGIN IMMEDIATE`` on
SQLite, ``SELECT ... FOR UPDATE`` on MariaDB), so an If-Match check and its write see one
state, and a batch is all or nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from petrosa_core._sql import create_engine, translated
from petrosa_core.documents._docs import (
    MAX_UPDATE_MATCHES,
    DuplicateId,
    FindQuery,
    FoundPage,
    Operation,
    PreconditionFailed,
    check_fields,
    decode_cursor,
    encode_cursor,
    etag,
    set_fields,
    with_ids,
)
from petrosa_core.documents._filters import Node, bad
from petrosa_core.documents._sql_filters import (
    REGEXP_FUNCTION,
    ColumnFields,
    JsonFields,
    json_sort_keys,
    sqlite_regexp,
    to_clause,
)
from petrosa_core.errors import ValidationError
from petrosa_core.metadata.tables import READ_ONLY_TABLES
from petrosa_core.metadata.tables import documents as _documents
from petrosa_core.metadata.tables import schema as _schema
from petrosa_core.times import now_ms

# Seconds any one statement of the generic API may run on MariaDB: a filter on JSON
# fields scans the collection, and a caller's filter must not hold a connection for long.
STATEMENT_SECONDS = 30


def _register_regexp(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.create_function(REGEXP_FUNCTION, 2, sqlite_regexp, deterministic=True)


def _bound_statements(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"SET SESSION max_statement_time = {STATEMENT_SECONDS}")
    cursor.close()


class SqlCollections:
    """Document collections and read-only metadata tables over one SQL engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._fields = JsonFields(_documents.c.body, _documents.c.id, self._dialect)

    @classmethod
    def open(cls, url: str) -> SqlCollections:
        """On the metadata store's URL; the store's own migrations create the table."""
        with translated():
            engine = create_engine(url, "METADATA_STORE_URL")
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine.sync_engine, "connect", _register_regexp)
        else:
            sa.event.listen(engine.sync_engine, "connect", _bound_statements)
        return cls(engine)

    async def close(self) -> None:
        await self._engine.dispose()

    def _scope(self, namespace: str, collection: str) -> list[sa.ColumnElement[bool]]:
        return [_documents.c.namespace == namespace, _documents.c.collection == collection]

    async def find(self, namespace: str, collection: str, query: FindQuery) -> FoundPage:
        where = [*self._scope(namespace, collection), to_clause(query.filter, self._fields)]
        order = self._order(query)
        stmt = sa.select(_documents.c.id, _documents.c.body).where(*where)
        if query.cursor is not None:
            after = str(decode_cursor(query.cursor))
            column = _documents.c.id
            stmt = stmt.where(column > after if query.id_order() > 0 else column < after)
        stmt = stmt.order_by(*order).offset(query.offset).limit(query.limit + 1)
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        docs = [{"_id": row.id, **row.body} for row in rows[: query.limit]]
        more = len(rows) > query.limit and query.id_order() != 0
        cursor = encode_cursor(docs[-1]["_id"]) if more else None
        if query.projection is not None:
            docs = [query.projection.apply(d) for d in docs]
        return FoundPage(docs, cursor)

    def _order(self, query: FindQuery) -> list[Any]:
        if query.cursor is not None and query.id_order() == 0:
            raise ValidationError("bad_pagination", "cursors page in _id order; sort by _id")
        keys: list[Any] = []
        for path, direction in query.sort or [("_id", 1)]:
            keys += json_sort_keys(self._fields, path, direction < 0)
        if not any(path == "_id" for path, _ in query.sort):
            keys.append(_documents.c.id.asc())
        return keys

    async def get(self, namespace: str, collection: str, doc_id: str) -> dict[str, Any] | None:
        stmt = sa.select(_documents.c.body).where(
            *self._scope(namespace, collection), _documents.c.id == doc_id
        )
        async with self._read() as conn:
            body = await conn.scalar(stmt)
        return None if body is None else {"_id": doc_id, **body}

    async def insert(
        self, namespace: str, collection: str, docs: list[dict[str, Any]]
    ) -> list[str]:
        async with self._write() as conn:
            return await self._insert_in(conn, namespace, collection, docs)

    async def update(
        self,
        namespace: str,
        collection: str,
        filter_: Node,
        fields: dict[str, Any],
        if_match: str | None = None,
    ) -> tuple[int, int]:
        async with self._write() as conn:
            return await self._update_in(conn, namespace, collection, filter_, fields, if_match)

    async def delete(self, namespace: str, collection: str, filter_: Node) -> int:
        async with self._write() as conn:
            return await self._delete_in(conn, namespace, collection, filter_)

    async def batch(
        self, namespace: str, collection: str, operations: Sequence[Operation]
    ) -> list[dict[str, int]]:
        """Every operation in one transaction: one failing leaves the collection untouched."""
        results: list[dict[str, int]] = []
        async with self._write() as conn:
            for op in operations:
                results.append(await self._apply(conn, namespace, collection, op))
        return results

    async def _apply(
        self, conn: AsyncConnection, namespace: str, collection: str, op: Operation
    ) -> dict[str, int]:
        if op.kind == "insert":
            return {"inserted": len(await self._insert_in(conn, namespace, collection, op.docs))}
        if op.kind == "update":
            matched, modified = await self._update_in(
                conn, namespace, collection, op.filter, op.fields, None
            )
            return {"matched": matched, "modified": modified}
        return {"deleted": await self._delete_in(conn, namespace, collection, op.filter)}

    async def _insert_in(
        self, conn: AsyncConnection, namespace: str, collection: str, docs: list[dict[str, Any]]
    ) -> list[str]:
        docs = with_ids(docs)
        ids = [d["_id"] for d in docs]
        taken = await conn.scalars(
            sa.select(_documents.c.id).where(
                *self._scope(namespace, collection), _documents.c.id.in_(ids)
            )
        )
        if clash := taken.first():
            raise DuplicateId("duplicate_id", f"_id {clash!r} is already in {collection}")
        now = now_ms()
        rows = [
            {
                "namespace": namespace, "collection": collection, "id": d["_id"],
                "body": {k: v for k, v in d.items() if k != "_id"},
                "created_at": now, "updated_at": now,
            }
            for d in docs
        ]  # fmt: skip
        if rows:
            await conn.execute(sa.insert(_documents), rows)
        return ids

    async def _update_in(
        self,
        conn: AsyncConnection,
        namespace: str,
        collection: str,
        filter_: Node,
        fields: dict[str, Any],
        if_match: str | None,
    ) -> tuple[int, int]:
        check_fields(fields)
        where = [*self._scope(namespace, collection), to_clause(filter_, self._fields)]
        stmt = sa.select(_documents.c.id, _documents.c.body).where(*where)
        stmt = stmt.order_by(_documents.c.id).limit(MAX_UPDATE_MATCHES + 1)
        if self._dialect != "sqlite":
            stmt = stmt.with_for_update()
        rows = (await conn.execute(stmt)).all()
        if len(rows) > MAX_UPDATE_MATCHES:
            raise ValidationError(
                "too_many_matches", f"the filter matches more than {MAX_UPDATE_MATCHES} documents"
            )
        if if_match is not None:
            _check_precondition(rows, if_match)
        modified = 0
        for row in rows:
            body = set_fields(row.body, fields)
            if body != row.body:
                modified += 1
                await conn.execute(
                    sa.update(_documents)
                    .where(*self._scope(namespace, collection), _documents.c.id == row.id)
                    .values(body=body, updated_at=now_ms())
                )
        return len(rows), modified

    async def _delete_in(
        self, conn: AsyncConnection, namespace: str, collection: str, filter_: Node
    ) -> int:
        where = [*self._scope(namespace, collection), to_clause(filter_, self._fields)]
        return int((await conn.execute(sa.delete(_documents).where(*where))).rowcount)

    async def read_table(self, name: str, query: FindQuery) -> FoundPage:
        """Rows of a metadata table as documents; the filter names its columns."""
        table = _schema.tables.get(name)
        if table is None or name not in READ_ONLY_TABLES:
            raise bad(f"{name!r} is not a metadata table")
        fields = ColumnFields(table, self._dialect)
        stmt = sa.select(table).where(to_clause(query.filter, fields))
        keys = list(table.primary_key.columns)
        if query.cursor is not None:
            if len(keys) != 1 or query.sort:
                raise ValidationError("bad_pagination", f"{name} pages by offset")
            stmt = stmt.where(keys[0] > decode_cursor(query.cursor))
        order = [fields.column(p).desc() if d < 0 else fields.column(p) for p, d in query.sort]
        stmt = stmt.order_by(*order, *keys).offset(query.offset).limit(query.limit + 1)
        async with self._read() as conn:
            rows = [dict(row._mapping) for row in await conn.execute(stmt)]
        page = rows[: query.limit]
        more = len(rows) > query.limit and len(keys) == 1 and not query.sort
        cursor = encode_cursor(page[-1][keys[0].name]) if more else None
        if query.projection is not None:
            page = [query.projection.apply(r) for r in page]
        return FoundPage(page, cursor)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        with translated():
            async with self._engine.connect() as conn:
                yield conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        with translated():
            async with self._engine.connect() as conn:
                if self._dialect == "sqlite":
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                else:
                    await conn.begin()
                yield conn
                await conn.commit()


def _check_precondition(rows: Sequence[Any], if_match: str) -> None:
    if len(rows) != 1:
        raise PreconditionFailed(
            "precondition_failed",
            f"If-Match needs a filter matching exactly one document; it matched {len(rows)}",
        )
    current = etag({"_id": rows[0].id, **rows[0].body})
    wanted = {tag.strip() for tag in if_match.split(",")}
    if current not in wanted and "*" not in wanted:
        raise PreconditionFailed(
            "precondition_failed",
            f"the document changed: its ETag is now {current}; read it again and retry",
        )
