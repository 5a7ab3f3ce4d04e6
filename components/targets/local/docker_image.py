"""A serving image on the local Docker engine, built offline when its content-hash tag is missing."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components import environments, image_build


class _ImageProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=_build(props), outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # The tag is a content hash of everything that goes into the image.
        if olds.get("tag") != news.get("tag"):
            return DiffResult(changes=True, replaces=["tag"])
        # Same tag, but the image was removed (`mle prune-images`, `docker rmi`): build it again
        # in place, so the containers that name the tag can still be created.
        return DiffResult(changes=image_build.image_present(news["tag"]) is False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _build(news)
        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)

    # Images are kept on delete: another stack or deployment may use the same content-hashed tag,
    # and keeping them is what makes an unchanged environment never rebuild. `mle prune-images`
    # removes the ones no container uses.


def _build(props: dict[str, Any]) -> str:
    """Build (or find) the image the props describe; its tag must be the one the program planned."""
    try:
        tag = image_build.build_image(environments.plan_from_props(props))
    except image_build.ImageBuildError as exc:
        raise image_build.ImageBuildError(f"image for {props['purpose']}: {exc}") from None
    if tag != props["tag"]:
        raise image_build.ImageBuildError(
            f"image for {props['purpose']}: built {tag} but the program planned {props['tag']}; "
            "the serving sources changed during the update, run `pulumi up` again"
        )
    return tag


class ServingImage(Resource):
    """The serving runtime plus one environment's packages, tagged by content hash."""

    tag: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        plan: environments.EnvironmentPlan,
        tag: str,
        purpose: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`tag` is environments.image_tag(plan), which callers already need for their own inputs."""
        props = {"tag": tag, "purpose": purpose, **environments.plan_props(plan)}
        super().__init__(_ImageProvider(), resource_name, props, opts)
