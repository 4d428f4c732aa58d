"""The metadata store's tables, for readers outside the package (the generic API, raw SQL)."""

from petrosa_core.metadata._tables import documents
from petrosa_core.metadata._tables import metadata as schema

# Tables the generic API serves read-only: every one but the document collections'.
TABLE_NAMES = frozenset(schema.tables)
READ_ONLY_TABLES = frozenset(name for name in TABLE_NAMES if name != "documents")

__all__ = ["READ_ONLY_TABLES", "TABLE_NAMES", "documents", "schema"]
