"""Datastore URIs (`azureml://datastores/<name>/paths/<path>`) and the folders they name."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from serving.batch.controller.errors import BadRequest
from serving.batch.protocol import DATASTORES_ROOT, DEFAULT_DATASTORE, ControllerConfig

# Short form and the long forms Azure's REST examples use (a datastore ID followed by /paths/...):
# https://learn.microsoft.com/en-us/azure/machine-learning/how-to-access-data-batch-endpoints-jobs
_DATASTORE_URI = re.compile(
    r"^(?:azureml:/)?/"
    r"(?:subscriptions/[^/]+/resourcegroups/[^/]+/(?:providers/microsoft\.machinelearningservices/)?"
    r"workspaces/[^/]+/)?"
    r"datastores/(?P<datastore>[^/]+)/paths(?:/(?P<path>.*))?$",
    re.IGNORECASE,
)
_DATASTORE_ID = re.compile(r"(?:^|/)datastores/(?P<datastore>[^/]+)/?$", re.IGNORECASE)
_ASSET = re.compile(r"^azureml:(?!//)|/data/[^/]+/versions/[^/]+/?$", re.IGNORECASE)
SUPPORTED = "azureml://datastores/<datastore>/paths/<path>"


@dataclass(frozen=True)
class DatastorePath:
    """A path on a datastore: `path` is relative, normalized, '' for the datastore's root."""

    datastore: str
    path: str

    def uri(self, folder: bool = False) -> str:
        tail = self.path + ("/" if folder and self.path else "")
        return f"azureml://datastores/{self.datastore}/paths/{tail}"

    def child(self, *parts: str) -> DatastorePath:
        return DatastorePath(self.datastore, posixpath.join(self.path, *parts))

    @property
    def parent(self) -> DatastorePath:
        return DatastorePath(self.datastore, posixpath.dirname(self.path))

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)


def _normalize(path: str, what: str, uri: str) -> str:
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise BadRequest(f"{what} {uri!r}: '..' is not allowed in a datastore path")
    return "/".join(parts)


def parse_uri(uri: str, what: str) -> DatastorePath:
    """Parse a datastore URI; anything else is a 400 that says what is supported here."""
    if not isinstance(uri, str) or not uri.strip():
        raise BadRequest(f"{what}: Uri must be a non-empty string like {SUPPORTED}")
    uri = uri.strip()
    match = _DATASTORE_URI.match(uri)
    if match:
        return DatastorePath(match["datastore"], _normalize(match["path"] or "", what, uri))
    lowered = uri.lower()
    if lowered.startswith(("http://", "https://", "wasbs://", "abfss://", "adl://")):
        raise BadRequest(
            f"{what} {uri!r}: cloud and web URIs are not supported here (the nodes have no internet "
            f"access); copy the data into a datastore folder and pass {SUPPORTED}"
        )
    if _ASSET.search(uri):
        raise BadRequest(
            f"{what} {uri!r}: data asset references are resolved by the CLI (`mle batch invoke --input`), "
            f"not by the endpoint; pass the asset's datastore path as {SUPPORTED}"
        )
    raise BadRequest(f"{what} {uri!r} is not a datastore URI; use {SUPPORTED}")


def parse_datastore_id(datastore_id: str, what: str) -> str:
    """The datastore name in a datastore ARM ID (or a bare name)."""
    match = _DATASTORE_ID.search(datastore_id)
    if match:
        return match["datastore"]
    if re.fullmatch(r"[A-Za-z0-9_]+", datastore_id):
        return datastore_id
    raise BadRequest(f"{what} {datastore_id!r} is not a datastore name or ID")


class Datastores:
    """Datastore name -> folder, from the config; the default datastore always exists.

    The config names folders as the containers see them (protocol.DATASTORES_ROOT/<name>); they are
    re-rooted under `root` so a controller with another root (tests) reads the same layout.
    """

    def __init__(self, config: ControllerConfig, root: Path) -> None:
        self._root = root
        self._folders = {name: self._place(folder) for name, folder in config.datastores.items()}
        self._folders.setdefault(DEFAULT_DATASTORE, root / DEFAULT_DATASTORE)

    def _place(self, folder: str) -> Path:
        path = PurePosixPath(folder)
        if not path.is_absolute():
            return self._root / path
        try:
            return self._root / path.relative_to(DATASTORES_ROOT)
        except ValueError:
            return Path(folder)

    @property
    def names(self) -> list[str]:
        return sorted(self._folders)

    def folder(self, name: str, what: str) -> Path:
        folder = self._folders.get(name)
        if folder is None:
            raise BadRequest(
                f"{what}: unknown datastore {name!r}; this endpoint has: {', '.join(self.names)}"
            )
        return folder

    def resolve(self, location: DatastorePath, what: str) -> Path:
        """The host/container path of a datastore path; it may not leave the datastore's folder."""
        folder = self.folder(location.datastore, what)
        path = folder / location.path if location.path else folder
        real_folder, real_path = os.path.realpath(folder), os.path.realpath(path)
        if real_path != real_folder and not real_path.startswith(real_folder + os.sep):
            raise BadRequest(f"{what} {location.uri()!r} leads outside datastore {location.datastore!r}")
        return path
