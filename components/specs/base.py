"""The base of every spec, and the read-only keys that `az ml ... show` output carries."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator


class Spec(BaseModel):
    """Base of every spec: unknown keys are errors, specs are immutable, `$schema` is accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    IGNORED_KEYS: ClassVar[Mapping[str, str]] = MappingProxyType({})
    """Keys accepted on purpose but dropped (with a SpecWarning saying why)."""

    @model_validator(mode="before")
    @classmethod
    def _drop_schema(cls, data: Any) -> Any:
        # `$schema` only tells the kind of document, which the loader has already read.
        if isinstance(data, Mapping) and "$schema" in data:
            return {key: value for key, value in data.items() if key != "$schema"}
        return data


_READ_ONLY = "read-only, reported by Azure ML (as in `az ml ... show` output); ignored"
_SHOW_KEYS = ("id", "provisioning_state", "creation_context", "properties")
_ENDPOINT_SHOW_KEYS = (*_SHOW_KEYS, "scoring_uri", "openapi_uri", "swagger_uri", "location")
