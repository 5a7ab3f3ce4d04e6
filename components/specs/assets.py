"""Assets a deployment uses: model, environment (image, conda file or build context), code, identity."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from components.errors import FieldIssues
from components.specs.base import Spec
from components.specs.fields import (
    LocalDir,
    LocalFileOrDir,
    Text,
    TextMap,
    _conda_file,
    _context,
    _is_remote,
    _lower,
    check_reference,
    path_issue,
    path_kind,
)


class ModelSpec(Spec):
    """A model: a local file or folder (`path`), or a registered Azure ML model (`reference`)."""

    name: str | None = Field(default=None, description="Model name (used when registering it on Azure).")
    version: Text | None = Field(
        default=None, description="Model version (used when registering it on Azure)."
    )
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")
    path: LocalFileOrDir | None = Field(
        default=None, description="Local file or folder, relative to the YAML file."
    )
    reference: str | None = Field(
        default=None,
        description="Registered model (`azureml:name:version`, `azureml:name@label`) or cloud URI.",
    )
    type: Annotated[Literal["custom_model", "mlflow_model", "triton_model"], BeforeValidator(_lower)] = Field(
        default="custom_model", description="Storage format of the model."
    )
    flavors: dict[str, Any] | None = Field(default=None, description="MLflow flavors, kept as given.")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        # `model: azureml:my-model:1` is a reference; `path: azureml://datastores/...` is a cloud path.
        if isinstance(data, str):
            return {"reference": data}
        if isinstance(data, Mapping) and isinstance(data.get("path"), str) and "://" in data["path"]:
            rest = {key: value for key, value in data.items() if key != "path"}
            return {**rest, "reference": data["path"]}
        return data

    @field_validator("reference")
    @classmethod
    def _check_reference(cls, value: str) -> str:
        local = value if not _is_remote(value) else "./model"
        return check_reference(
            value, "model", f"for a local folder write `model: {{path: {local}}}`", any_uri=True
        )

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.path is None) == (self.reference is None):
            raise ValueError(
                "give either `path` (a local file or folder) or a registered reference (azureml:my-model:1)"
            )
        return self

    @property
    def is_local(self) -> bool:
        return self.path is not None


def _require_file(info: ValidationInfo, folder: Path, name: str, field: str) -> None:
    """With path checks on, `name` must be a file inside `folder`; the problem lands on `field`."""
    path = folder / name
    try:
        issue = path_issue(path)
        if issue is not None:
            raise ValueError(issue)
        if _context(info)[1] and path_kind(path) != "file":
            raise ValueError(f"no such file: {path}")
    except ValueError as error:
        raise FieldIssues([((field,), str(error))]) from None


class BuildContext(Spec):
    """A Docker build context: a local folder and the Dockerfile inside it."""

    path: LocalDir = Field(description="Build context folder, relative to the YAML file.")
    dockerfile_path: str = Field(
        default="Dockerfile", description="Dockerfile, relative to the build context."
    )

    @model_validator(mode="after")
    def _dockerfile_exists(self, info: ValidationInfo) -> BuildContext:
        _require_file(info, self.path, self.dockerfile_path, "dockerfile_path")
        return self


class EnvironmentSpec(Spec):
    """Where the code runs: an image (plus conda file), a build context, or a registered environment."""

    IGNORED_KEYS: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            "inference_config": "custom inference routes are ignored: mlendpoints serves the Azure ML routes "
            "(/, /score, /swagger.json) itself",
        }
    )

    name: str | None = Field(
        default=None, description="Environment name (used when registering it on Azure)."
    )
    version: Text | None = Field(default=None, description="Environment version.")
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")
    image: str | None = Field(default=None, description="Base Docker image.")
    conda_file: Annotated[Path | dict[str, Any], BeforeValidator(_conda_file)] | None = Field(
        default=None,
        description="Conda file (path relative to the YAML file, or inline) installed on top of `image`.",
    )
    build: BuildContext | None = Field(default=None, description="Docker build context instead of an image.")
    reference: str | None = Field(
        default=None,
        description="Registered environment (`azureml:name:version`, `azureml://registries/...`).",
    )
    os_type: Annotated[Literal["linux"], BeforeValidator(_lower)] = Field(
        default="linux", description="Only Linux containers are supported."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        return {"reference": data} if isinstance(data, str) else data

    @field_validator("reference")
    @classmethod
    def _check_reference(cls, value: str) -> str:
        hint = "or describe it inline: `environment: {image: ..., conda_file: ./conda.yaml}`"
        return check_reference(value, "environment", hint)

    @model_validator(mode="after")
    def _one_source(self) -> EnvironmentSpec:
        if self.reference is not None:
            if self.image or self.build or self.conda_file:
                raise ValueError(
                    "a registered environment reference cannot be combined with image/build/conda_file"
                )
        elif self.image and self.build:
            raise ValueError("give either `image` or `build`, not both")
        elif not (self.image or self.build):
            raise ValueError(
                "give `image` (optionally with `conda_file`) or `build` (a Docker build context)"
            )
        elif self.conda_file is not None and not self.image:
            raise FieldIssues([(("conda_file",), "needs `image` to install into (not allowed with `build`)")])
        return self

    @property
    def is_local(self) -> bool:
        return self.reference is None


class CodeConfiguration(Spec):
    """The scoring code: a local folder and the script in it that has init() and run()."""

    code: LocalDir = Field(description="Folder with the scoring code, relative to the YAML file.")
    scoring_script: str = Field(min_length=1, description="Script inside `code` with init() and run().")

    @model_validator(mode="after")
    def _script_exists(self, info: ValidationInfo) -> CodeConfiguration:
        _require_file(info, self.code, self.scoring_script, "scoring_script")
        return self


class Identity(Spec):
    """Managed identity (Azure target only)."""

    type: Annotated[Literal["system_assigned", "user_assigned"], BeforeValidator(_lower)] = Field(
        description="Kind of managed identity."
    )
    user_assigned_identities: list[str] = Field(
        default_factory=list, description="Resource ids of user-assigned identities."
    )

    @field_validator("user_assigned_identities", mode="before")
    @classmethod
    def _resource_ids(cls, value: Any) -> Any:
        # The YAML examples write `- resource_id: /subscriptions/...`.
        if isinstance(value, list):
            return [item.get("resource_id", item) if isinstance(item, Mapping) else item for item in value]
        return value

    @model_validator(mode="after")
    def _ids_match_type(self) -> Identity:
        if self.type == "user_assigned" and not self.user_assigned_identities:
            raise FieldIssues([(("user_assigned_identities",), "required when type is user_assigned")])
        if self.type == "system_assigned" and self.user_assigned_identities:
            raise FieldIssues([(("user_assigned_identities",), "only allowed when type is user_assigned")])
        return self


# ---------------------------------------------------------------- assets to register (`az ml ... create -f`)


def _asset_version(value: Any) -> Any:
    # `version: 1` in YAML is an int; Azure keeps versions as text ("1", "2", "2024.1").
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


AssetVersion = Annotated[
    str, BeforeValidator(_asset_version), Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,49}$")
]
AssetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")]
# Versions a document without `version` gets: Azure auto-increments from 1 on `create`; a stack
# declares its assets once, so that is version 1.
DEFAULT_ASSET_VERSION = "1"


class ModelAssetSpec(ModelSpec):
    """A model to register (`model.schema.json`): a local file or folder under a name and version."""

    IGNORED_KEYS: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"properties": "model properties are kept on Azure only; ignored locally",
         "stage": "model stages are kept on Azure only; ignored locally",
         "job_name": "the training job a model came from is kept on Azure only; ignored locally"}
    )  # fmt: skip

    name: AssetName = Field(description="Model name: what `azureml:<name>:<version>` refers to.")
    version: AssetVersion = Field(
        default=DEFAULT_ASSET_VERSION, description="Model version (immutable once registered)."
    )

    @model_validator(mode="after")
    def _local_only(self) -> ModelAssetSpec:
        if self.path is None:
            raise FieldIssues([(("path",), "a model to register needs `path`: a local file or folder")])
        return self


class EnvironmentAssetSpec(EnvironmentSpec):
    """An environment to register (`environment.schema.json`): an image, conda file or build context."""

    name: AssetName = Field(description="Environment name: what `azureml:<name>:<version>` refers to.")
    version: AssetVersion = Field(
        default=DEFAULT_ASSET_VERSION, description="Environment version (immutable once registered)."
    )

    @model_validator(mode="after")
    def _not_a_reference(self) -> EnvironmentAssetSpec:
        if self.reference is not None:
            raise ValueError("an environment to register describes an image, conda file or build context")
        return self


class DataAssetSpec(Spec):
    """A data asset to register (`data.schema.json`): a local file or folder, or a datastore URI."""

    name: AssetName = Field(description="Data asset name: what `azureml:<name>:<version>` refers to.")
    version: AssetVersion = Field(
        default=DEFAULT_ASSET_VERSION, description="Data asset version (immutable once registered)."
    )
    description: str | None = Field(default=None, description="Free text.")
    tags: TextMap = Field(default_factory=dict, description="Tags.")
    type: Annotated[Literal["uri_file", "uri_folder", "mltable"], BeforeValidator(_lower)] = Field(
        default="uri_folder", description="uri_file, uri_folder or mltable."
    )
    path: LocalFileOrDir | None = Field(
        default=None, description="Local file or folder, relative to the YAML file."
    )
    uri: str | None = Field(
        default=None, description="`azureml://datastores/<name>/paths/<path>` instead of a local path."
    )

    @model_validator(mode="before")
    @classmethod
    def _uri_path(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("path"), str) and "://" in data["path"]:
            rest = {key: value for key, value in data.items() if key != "path"}
            return {**rest, "uri": data["path"]}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> DataAssetSpec:
        if (self.path is None) == (self.uri is None):
            raise FieldIssues(
                [
                    (
                        ("path",),
                        "give `path`: a local file or folder, or azureml://datastores/<name>/paths/<path>",
                    )
                ]
            )
        if self.type == "mltable":
            raise FieldIssues(
                [(("type",), "mltable data assets are not supported locally; use uri_folder or uri_file")]
            )
        return self
