"""Document collections as native MongoDB collections of the market store's database.

The checked filter goes to MongoDB as it came (only allow-listed operators survive the
check). There are no multi-document transactions here (servers such as nx-27017 lack
them), so a batch is checked whole before its first write and then applied in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

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
    with_ids,
)
from petrosa_core.documents._filters import All, AnyNode, AnyOf, Compare, Exists, Node, Not
from petrosa_core.errors import ValidationError
from petrosa_core.market.mongo_access import open_database, plain, translated

Document = dict[str, Any]
# Bounds a read of documents whose filter cannot use an index.
_MAX_TIME_MS = 10_000


def to_mongo(node: Node) -> Document:
    """The MongoDB filter of a checked tree (the same meaning as the SQL translation)."""
    if isinstance(node, All):
        parts = [to_mongo(n) for n in node.nodes]
        return {} if not parts else parts[0] if len(parts) == 1 else {"$and": parts}
    if isinstance(node, AnyNode):
        return {"$or": [to_mongo(n) for n in node.nodes]}
    if isinstance(node, Not):
        return {"$nor": [to_mongo(node.node)]}
    if isinstance(node, Compare):
        return {node.path: {node.op: node.value}}
    if isinstance(node, AnyOf):
        return {node.path: {"$in": list(node.values)}}
    if isinstance(node, Exists):
        return {node.path: {"$exists": node.present}}
    regex: Document = {"$regex": node.pattern}
    if node.ignore_case:
        regex["$options"] = "i"
    return {node.path: regex}


class MongoCollections:
    """Document collections in the market store's MongoDB database."""

    def __init__(self, client: AsyncMongoClient[Document], db: AsyncDatabase[Document]):
        self._client = client
        self._db = db

    @classmethod
    def open(cls, url: str) -> MongoCollections:
        return cls(*open_database(url))

    async def close(self) -> None:
        await self._client.close()

    async def find(self, _namespace: str, collection: str, query: FindQuery) -> FoundPage:
        filter_ = to_mongo(query.filter)
        direction = query.id_order()
        if query.cursor is not None:
            if direction == 0:
                raise ValidationError("bad_pagination", "cursors page in _id order; sort by _id")
            bound = {"$gt" if direction > 0 else "$lt": str(decode_cursor(query.cursor))}
            filter_ = {"$and": [filter_, {"_id": bound}]}
        sort = query.sort or [("_id", 1)]
        if all(path != "_id" for path, _ in sort):
            sort = [*sort, ("_id", 1)]
        with translated("generic read"):
            cursor = self._db[collection].find(filter_, skip=query.offset)
            cursor = cursor.sort(sort).limit(query.limit + 1).max_time_ms(_MAX_TIME_MS)
            rows = [plain(d) for d in await cursor.to_list(query.limit + 1)]
        docs = rows[: query.limit]
        more = len(rows) > query.limit and direction != 0
        next_cursor = encode_cursor(docs[-1]["_id"]) if more else None
        if query.projection is not None:
            docs = [query.projection.apply(d) for d in docs]
        return FoundPage(docs, next_cursor)

    async def get(self, _namespace: str, collection: str, doc_id: str) -> Document | None:
        with translated("generic read"):
            found = await self._db[collection].find_one({"_id": doc_id})
        return None if found is None else plain(found)

    async def insert(self, _namespace: str, collection: str, docs: list[Document]) -> list[str]:
        docs = with_ids(docs)
        ids = [d["_id"] for d in docs]
        with translated("generic insert"):
            clash = await self._db[collection].find_one({"_id": {"$in": ids}}, {"_id": 1})
            if clash is not None:
                raise DuplicateId(
                    "duplicate_id", f"_id {clash['_id']!r} is already in {collection}"
                )
            try:
                if docs:
                    await self._db[collection].insert_many(docs, ordered=True)
            except DuplicateKeyError as exc:
                raise DuplicateId("duplicate_id", f"an _id is already in {collection}") from exc
        return ids

    async def update(
        self,
        _namespace: str,
        collection: str,
        filter_: Node,
        fields: dict[str, Any],
        if_match: str | None = None,
    ) -> tuple[int, int]:
        check_fields(fields)
        query = to_mongo(filter_)
        with translated("generic update"):
            if if_match is not None:
                query = await self._guarded(collection, query, if_match)
            matched = await self._db[collection].count_documents(query, maxTimeMS=_MAX_TIME_MS)
            if matched > MAX_UPDATE_MATCHES:
                raise ValidationError(
                    "too_many_matches",
                    f"the filter matches more than {MAX_UPDATE_MATCHES} documents",
                )
            result = await self._db[collection].update_many(query, {"$set": fields})
        if if_match is not None and result.matched_count == 0:
            raise PreconditionFailed("precondition_failed", "the document changed meanwhile")
        return result.matched_count, result.modified_count

    async def _guarded(self, collection: str, query: Document, if_match: str) -> Document:
        """The filter narrowed to the one document whose ETag is ``if_match``, as it is now."""
        found = await self._db[collection].find(query).limit(2).to_list(2)
        if len(found) != 1:
            raise PreconditionFailed(
                "precondition_failed",
                f"If-Match needs a filter matching exactly one document; it matched {len(found)}",
            )
        current = plain(found[0])
        wanted = {tag.strip() for tag in if_match.split(",")}
        if etag(current) not in wanted and "*" not in wanted:
            raise PreconditionFailed(
                "precondition_failed",
                f"the document changed: its ETag is now {etag(current)}; read it again and retry",
            )
        # The whole stored document as the filter: a concurrent change makes it miss.
        return dict(found[0])

    async def delete(self, _namespace: str, collection: str, filter_: Node) -> int:
        with translated("generic delete"):
            result = await self._db[collection].delete_many(to_mongo(filter_))
        return result.deleted_count

    async def batch(
        self, namespace: str, collection: str, operations: Sequence[Operation]
    ) -> list[dict[str, int]]:
        results: list[dict[str, int]] = []
        for op in operations:
            if op.kind == "insert":
                results.append({"inserted": len(await self.insert(namespace, collection, op.docs))})
            elif op.kind == "update":
                matched, modified = await self.update(namespace, collection, op.filter, op.fields)
                results.append({"matched": matched, "modified": modified})
            else:
                results.append({"deleted": await self.delete(namespace, collection, op.filter)})
        return results
