"""Remove serving images no container uses.

Every change to an environment or to the serving sources gives a new content-hashed tag, and
images are kept on delete (see docker_image), so old tags pile up on a machine that deploys often.
A stack that still names a removed tag builds it again on its next `pulumi up`.
"""

from __future__ import annotations

from typing import Any

from components.environments import IMAGE_REPOSITORY


def unused_tags(client: Any, repository: str = IMAGE_REPOSITORY) -> list[str]:
    """Tags of `repository` whose image no container (running or stopped) was created from."""
    used = {container.attrs.get("Image") for container in client.containers.list(all=True)}
    prefix = f"{repository}:"
    return sorted(
        tag
        for image in client.images.list(name=repository)
        if image.id not in used
        for tag in image.tags
        if tag.startswith(prefix)
    )


def prune(
    client: Any, repository: str = IMAGE_REPOSITORY, dry_run: bool = False
) -> tuple[list[str], list[str]]:
    """Remove the unused tags; returns (removed, kept with the engine's reason)."""
    import docker.errors

    removed: list[str] = []
    refused: list[str] = []
    for tag in unused_tags(client, repository):
        if dry_run:
            removed.append(tag)
            continue
        try:
            client.images.remove(tag)
        except docker.errors.APIError as exc:  # e.g. a container was created from it meanwhile
            refused.append(f"{tag}: {exc.explanation or exc}")
        else:
            removed.append(tag)
    return removed, refused
