"""Document collections of the generic API, and the filter language every backend shares.

``SqlCollections`` keeps documents in the metadata store's ``documents`` table and reads
its other tables; ``open_mongo_collections`` keeps them as native collections beside the
market data. Both take filters checked by ``parse_filter``.
"""

from __future__ import annotations

from typing import Any, Protocol

from petrosa_core.documents._docs import (
    MAX_UPDATE_MATCHES,
    DuplicateId,
    FindQuery,
    FoundPage,
    Operation,
    PreconditionFailed,
    etag,
    set_fields,
)
from petrosa_core.documents._filters import (
    MAX_REGEX_CHARS,
    Node,
    Projection,
    check_field,
    parse_filter,
    parse_projection,
    parse_sort,
)
from petrosa_core.documents._sql_docs import SqlCollections
from petrosa_core.metadata.tables import READ_ONLY_TABLES


class Collections(Protocol):
    """Document collections of one backend; ``namespace`` is the path's database."""

    async def find(self, namespace: str, collection: str, query: FindQuery) -> FoundPage: ...

    async def get(self, namespace: str, collection: str, doc_id: str) -> dict[str, Any] | None: ...

    async def insert(
        self, namespace: str, collection: str, docs: list[dict[str, Any]]
    ) -> list[str]: ...

    async def update(
        self,
        namespace: str,
        collection: str,
        filter_: Node,
        fields: dict[str, Any],
        if_match: str | None = None,
    ) -> tuple[int, int]: ...

    async def delete(self, namespace: str, collection: str, filter_: Node) -> int: ...

    async def batch(
        self, namespace: str, collection: str, operations: list[Operation]
    ) -> list[dict[str, int]]: ...

    async def close(self) -> None: ...


def open_mongo_collections(url: str) -> Collections:
    """Native collections in the database of the market store's MongoDB URL."""
    from petrosa_core.documents._mongo_docs import MongoCollections

    return MongoCollections.open(url)


__all__ = [
    "MAX_REGEX_CHARS",
    "MAX_UPDATE_MATCHES",
    "READ_ONLY_TABLES",
    "Collections",
    "DuplicateId",
    "FindQuery",
    "FoundPage",
    "Node",
    "Operation",
    "PreconditionFailed",
    "Projection",
    "SqlCollections",
    "check_field",
    "etag",
    "open_mongo_collections",
    "parse_filter",
    "parse_projection",
    "parse_sort",
    "set_fields",
]
