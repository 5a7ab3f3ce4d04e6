"""Endpoint keys: the provider's create/diff called directly, and the resource's secret outputs."""

from __future__ import annotations

import pulumi
import pytest

from components.targets.endpoint_keys import SECRET_OUTPUTS, EndpointKeys, _KeysProvider, new_key
from serving.router.config import RouterSecrets
from tests.pulumi_mocks import RecordingMocks

PROPS = {"endpoint": "shop", "rotation": 0, **dict.fromkeys(SECRET_OUTPUTS)}


def test_created_keys_are_ones_the_router_accepts() -> None:
    created = _KeysProvider().create(dict(PROPS))
    outs = created.outs or {}
    # Validating with the router's own model proves both sides agree on charset and length.
    secrets = RouterSecrets.model_validate({name: outs[name] for name in SECRET_OUTPUTS})
    assert len(set(secrets.accepted_keys())) == 2
    assert outs["token_secret"] not in secrets.accepted_keys()
    assert (outs["endpoint"], outs["rotation"]) == ("shop", 0)
    assert created.id.startswith("keys-shop-")


def test_new_key_has_256_bits() -> None:
    # 32 random bytes in URL-safe base64 without padding: 43 characters.
    assert len(new_key()) == 43
    assert new_key() != new_key()


def test_each_create_makes_new_keys_and_a_new_id() -> None:
    first, second = _KeysProvider().create(dict(PROPS)), _KeysProvider().create(dict(PROPS))
    assert first.id != second.id
    assert (first.outs or {})["primary_key"] != (second.outs or {})["primary_key"]


def test_unchanged_inputs_keep_the_keys() -> None:
    # State hands numbers back as floats: rotation 0 comes back as 0.0 and must not count as a change.
    olds = {**PROPS, "rotation": 0.0, "primary_key": "p" * 43}
    diff = _KeysProvider().diff("keys-shop-1", olds, dict(PROPS))
    assert (diff.changes, diff.replaces) == (False, [])


@pytest.mark.parametrize(("key", "value"), [("rotation", 1), ("endpoint", "other")])
def test_rotation_or_another_endpoint_replaces_all_keys(key: str, value: object) -> None:
    diff = _KeysProvider().diff("keys-shop-1", dict(PROPS), {**PROPS, key: value})
    assert (diff.changes, diff.replaces) == (True, [key])


@pytest.mark.parametrize(
    "olds", [{"endpoint": "shop", "rotation": 2}, {"endpoint": "shop", "rotation": 2, "primary_key": "x"}]
)
def test_only_endpoint_and_rotation_are_compared(olds: dict[str, object]) -> None:
    # The generated outputs are in the old state but never in the new inputs: no perpetual diff.
    diff = _KeysProvider().diff("keys-shop-1", olds, {"endpoint": "shop", "rotation": 2})
    assert diff.changes is False


@pulumi.runtime.test
def test_keys_resource_asks_the_engine_to_keep_its_outputs_secret(
    pulumi_mocks: RecordingMocks,
) -> pulumi.Output:
    # Mocks ignore additional_secret_outputs (the engine applies it), so read the registration options.
    asked: dict[str, list[str] | None] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        asked[args.name] = args.opts.additional_secret_outputs

    pulumi.runtime.register_stack_transformation(record)
    keys = EndpointKeys("shop-keys", endpoint="shop", rotation=3)

    def check(_: object) -> None:
        assert sorted(asked["shop-keys"] or []) == sorted(SECRET_OUTPUTS)
        registered = pulumi_mocks.named("shop-keys")
        assert registered.type_ == "pulumi-python:dynamic:Resource"
        assert (registered.inputs["endpoint"], registered.inputs["rotation"]) == ("shop", 3)

    return keys.urn.apply(check)
