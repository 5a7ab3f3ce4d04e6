"""Endpoint keys (primary, secondary) and a token secret, generated once, kept as Pulumi secrets."""

from __future__ import annotations

import secrets
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

SECRET_OUTPUTS = ("primary_key", "secondary_key", "token_secret")


def new_key() -> str:
    """A key in the character set the router accepts (URL-safe base64), 256 bits of entropy."""
    return secrets.token_urlsafe(32)


class _KeysProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = {**props, **{name: new_key() for name in SECRET_OUTPUTS}}
        return CreateResult(id_=f"keys-{props['endpoint']}-{secrets.token_hex(4)}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Bumping `rotation` regenerates all keys, like `az ml online-endpoint regenerate-keys`.
        changed = [k for k in ("endpoint", "rotation") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed)


class EndpointKeys(Resource):
    """Two endpoint keys and a token secret; regenerate them by changing `rotation`."""

    primary_key: pulumi.Output[str]
    secondary_key: pulumi.Output[str]
    token_secret: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        endpoint: str,
        rotation: int = 0,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_OUTPUTS))
        )
        super().__init__(
            _KeysProvider(),
            resource_name,
            {"endpoint": endpoint, "rotation": rotation, **dict.fromkeys(SECRET_OUTPUTS)},
            opts,
        )
