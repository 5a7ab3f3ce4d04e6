"""Images in the cluster's registry: the serving image, plus model and code as layers of their own.

Like KServe's modelcars, a deployment's model and code travel in the image (content-addressed
layers on top of the environment's serving image), so any cluster that can pull from the registry
runs them: no host mounts. Built on this machine's Docker engine, pushed to the registry.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components import environments, image_build
from components.targets.rendering import tree_digest


class RegistryError(RuntimeError):
    """An image could not be built or pushed; the message says which and what to do."""


def reference(registry: str, serving_tag: str, layers: Mapping[str, str]) -> str:
    """`<registry>/mlendpoints/app:<hash>` of the serving image and the layers' content (or the
    serving image itself, retagged, when there are no layers)."""
    if not layers:
        return f"{registry}/{serving_tag}"
    content = hashlib.sha256(serving_tag.encode())
    for inside, host in sorted(layers.items()):
        content.update(f"\0{inside}\0{tree_digest([Path(host)])}".encode())
    return f"{registry}/mlendpoints/app:{content.hexdigest()[:24]}"


def dockerfile(serving_tag: str, layers: Mapping[str, str]) -> str:
    """One COPY per layer, in a stable order: an unchanged model keeps its layer across code changes."""
    lines = [f"FROM {serving_tag}"]
    for index, inside in enumerate(sorted(layers)):
        lines.append(f"COPY layer{index} {inside}")
    return "\n".join(lines) + "\n"


def _registry_has(ref: str) -> bool | None:
    """Whether the registry holds `ref` (a v2 manifest HEAD); None when it does not answer."""
    host, _, rest = ref.partition("/")
    repository, _, tag = rest.rpartition(":")
    request = urllib.request.Request(
        f"http://{host}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5):
            return True
    except urllib.error.HTTPError as exc:
        return False if exc.code == 404 else None
    except OSError:
        return None


def publish(props: Mapping[str, Any]) -> str:
    """Build (or find) the serving image, add the layers, push; the reference pushed."""
    plan = environments.plan_from_props(props)
    try:
        serving_tag = image_build.build_image(plan)
    except image_build.ImageBuildError as exc:
        raise RegistryError(f"image for {props['purpose']}: {exc}") from None
    layers = dict(props.get("layers") or {})
    ref = reference(props["registry"], serving_tag, layers)
    if ref != props["reference"]:
        raise RegistryError(
            f"image for {props['purpose']}: built {ref} but the program planned {props['reference']}; "
            "the serving sources or the model changed during the update, run `pulumi up` again"
        )
    client = image_build._connect()
    repository, _, tag = ref.rpartition(":")
    if layers:
        with tempfile.TemporaryDirectory(prefix="mlendpoints-layers-") as workdir:
            context = Path(workdir)
            for index, inside in enumerate(sorted(layers)):
                source, target = Path(layers[inside]), context / f"layer{index}"
                if source.is_dir():
                    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    target.mkdir()
                    shutil.copy2(source, target / source.name)
            (context / "Dockerfile").write_text(dockerfile(serving_tag, layers))
            try:
                client.images.build(
                    path=str(context), tag=ref, rm=True, forcerm=True, pull=False, network_mode="none"
                )
            except Exception as exc:
                raise RegistryError(
                    f"image for {props['purpose']}: adding model and code failed: {exc}"
                ) from None
    else:
        client.images.get(serving_tag).tag(repository, tag)
    for line in client.api.push(repository, tag=tag, stream=True, decode=True):
        if "error" in line:
            raise RegistryError(
                f"pushing {ref} failed: {line['error']}; is the registry at {props['registry']} running "
                "(scripts/cluster status)?"
            )
    return ref


class _RegistryImageProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=publish(props), outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if olds.get("reference") != news.get("reference"):
            return DiffResult(changes=True, replaces=["reference"])
        # Same content, but gone from the registry (a new cluster, a wiped registry): push again.
        return DiffResult(changes=_registry_has(news["reference"]) is False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        publish(news)
        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)


class RegistryImage(Resource):
    """An image in the cluster's registry, named by content: changing nothing pushes nothing."""

    reference: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        plan: environments.EnvironmentPlan,
        registry: str,
        layers: Mapping[str, str],
        purpose: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`layers`: container path -> host file or folder, added on top of the serving image."""
        ref = reference(registry, environments.image_tag(plan), layers)
        props = {
            "reference": ref,
            "registry": registry,
            **environments.plan_props(plan),
            "layers": dict(layers),
            "purpose": purpose,
        }
        super().__init__(_RegistryImageProvider(), resource_name, props, opts)
