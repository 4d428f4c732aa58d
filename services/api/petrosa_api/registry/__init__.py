"""The JSON Schema registry: versioned draft-07 schemas per store, their compatibility
rules, validation of records, and the common schemas of the suite."""

from petrosa_api.registry._errors import (
    IncompatibleSchema,
    SchemaRejected,
    UnknownDatabase,
    UnknownSchema,
    VersionLimit,
)
from petrosa_api.registry._registry import (
    Registration,
    RegistryOptions,
    SchemaRegistry,
)
from petrosa_api.registry._validation import RecordError, RecordErrors
from petrosa_api.registry.modes import CompatibilityMode

__all__ = [
    "CompatibilityMode",
    "IncompatibleSchema",
    "RecordError",
    "RecordErrors",
    "Registration",
    "RegistryOptions",
    "SchemaRegistry",
    "SchemaRejected",
    "UnknownDatabase",
    "UnknownSchema",
    "VersionLimit",
]
