"""The serving image provider's diff: a new tag replaces, a vanished image is rebuilt in place."""

from __future__ import annotations

import pytest

from components import image_build
from components.targets.local.docker_image import _ImageProvider

PROPS = {
    "tag": "mlendpoints/serving:aaa",
    "requirements": [],
    "base_image": "b",
    "purpose": "deployment blue",
}


@pytest.mark.parametrize(("present", "changes"), [(True, False), (None, False), (False, True)])
def test_same_tag_changes_only_when_the_image_is_gone(monkeypatch, present, changes) -> None:
    monkeypatch.setattr(image_build, "image_present", lambda tag: present)
    diff = _ImageProvider().diff("id", PROPS, dict(PROPS))
    assert diff.changes is changes
    assert not diff.replaces  # the containers keep naming the same tag: nothing downstream changes


def test_a_new_tag_replaces(monkeypatch) -> None:
    monkeypatch.setattr(image_build, "image_present", lambda tag: pytest.fail("no lookup needed"))
    diff = _ImageProvider().diff("id", PROPS, {**PROPS, "tag": "mlendpoints/serving:bbb"})
    assert diff.changes and diff.replaces == ["tag"]


def test_update_builds_and_checks_the_planned_tag(monkeypatch) -> None:
    built: list[str] = []
    monkeypatch.setattr(
        image_build, "build_image", lambda plan: built.append(plan.base_image) or PROPS["tag"]
    )
    assert _ImageProvider().update("id", PROPS, PROPS).outs == PROPS
    assert built == ["b"]
    monkeypatch.setattr(image_build, "build_image", lambda plan: "mlendpoints/serving:other")
    with pytest.raises(image_build.ImageBuildError, match="the serving sources changed during the update"):
        _ImageProvider().update("id", PROPS, PROPS)
