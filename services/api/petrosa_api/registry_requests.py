"""Request bodies of the schema registry's routes, and how its rows are rendered."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import pydantic
from pydantic import BaseModel, Field

from petrosa_api.health_figures import render
from petrosa_api.registry import CompatibilityMode, RecordErrors
from petrosa_core.metadata import SchemaRecord

Database = Literal["mysql", "mongodb"]
SchemaName = Field(min_length=1, max_length=128, description="The schema's name")


class RegisterBody(BaseModel):
    """``POST /schemas/{database}/{name}``."""

    model_config = pydantic.ConfigDict(extra="forbid")

    schema_: dict[str, Any] = Field(alias="schema", description="A draft-07 JSON Schema")
    description: str = Field("", max_length=1024)
    compatibility: CompatibilityMode | None = Field(
        None,
        description="Sets the name's own compatibility mode (default SCHEMA_COMPATIBILITY_MODE)",
    )
    describes: str | None = Field(
        None, min_length=1, max_length=96, description="A dataset kind or id, e.g. candles"
    )


class UpdateBody(BaseModel):
    """``PUT .../versions/{version}``: the description and status, never the document."""

    model_config = pydantic.ConfigDict(extra="forbid")

    description: str | None = Field(None, max_length=1024)
    status: Literal["active", "deprecated"] | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _no_document(cls, data: Any) -> Any:
        if isinstance(data, dict) and "schema" in data:
            raise ValueError(
                "a registered schema's body never changes: register it as a new version"
            )
        return data


class ValidateBody(BaseModel):
    """``POST /schemas/validate``: one record or a batch."""

    model_config = pydantic.ConfigDict(extra="forbid")

    database: Database
    schema_name: str = SchemaName
    data: dict[str, Any] | list[Any]
    version: int | None = Field(None, ge=1)


class CompatibilityBody(BaseModel):
    """``POST /schemas/compatibility``: two registered versions, or a candidate schema."""

    model_config = pydantic.ConfigDict(extra="forbid")

    database: Database
    schema_name: str = SchemaName
    old_version: int | None = Field(None, ge=1)
    new_version: int | None = Field(None, ge=1)
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    mode: CompatibilityMode | None = None


class BootstrapBody(BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    overwrite_existing: bool = False


def render_version(record: SchemaRecord, *, document: bool = True) -> dict[str, Any]:
    """A version as the API shows it: ``database`` (the store) and ``schema`` (the body)."""
    out = render(record)
    out["database"] = out.pop("store")
    body = out.pop("document")
    if document:
        out["schema"] = body
    return {"database": out.pop("database"), "name": out.pop("name"), **out}


def render_errors(invalid: list[RecordErrors]) -> list[dict[str, Any]]:
    """Every error of every record, flat, each with the record's index."""
    return [
        {"index": entry.index, **msgspec.to_builtins(error)}
        for entry in invalid
        for error in entry.errors
    ]
