"""`mlendpoints:target`: a target the stack cannot deploy to is refused by name before anything is made."""

from __future__ import annotations

import pytest

from tests.integration.fixtures.tiny_endpoint import local_stack, tiny_serving
from tests.integration.pulumi_stack import TempStack

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("target", ["azure", "aws"])
def test_a_target_the_stack_cannot_deploy_to_is_refused_by_name(target: str) -> None:
    # `azure` is one the validator knows (Azure's rules for the files); the stack used to fall through to
    # local Docker with it, as if the user had written `local`.
    stack = TempStack.create({**local_stack(tiny_serving("it-target")), "mlendpoints:target": target})
    try:
        planned = stack.preview()
        out = planned["_stderr"] + str(planned.get("diagnostics", ""))
        assert planned["_returncode"] != 0
        assert f"target {target!r}" in out and "'local' or 'kubernetes'" in out, out
        assert "Traceback" not in out
        created = [s["urn"] for s in planned.get("steps", []) if s["op"] == "create"]
        assert all("pulumi:pulumi:Stack" in urn for urn in created), created  # refused before any resource
    finally:
        stack.destroy_and_remove()
