"""Which interrupted creates are containers or networks of ours (pure; removal runs in integration)."""

from __future__ import annotations

from components.stack_checkpoint import PendingCreate
from components.targets.local.interrupted import Leftover, leftovers

DYNAMIC = "pulumi-python:dynamic:Resource"
LABELS = {"io.mlendpoints.endpoint": "ep", "io.mlendpoints.deployment": "blue"}


def _create(inputs: dict[str, object], type_: str = DYNAMIC) -> PendingCreate:
    return PendingCreate("urn:x", type_, inputs)


def test_containers_come_before_networks_with_what_they_make() -> None:
    found = leftovers(
        [
            _create({"__provider": "p", "name": "mle-ep", "labels": {"io.mlendpoints.endpoint": "ep"}}),
            _create({"__provider": "p", "name": "ep-blue-0-1", "image": "i", "labels": LABELS}),
            _create({"name": "ep-agent", "image": "i", "labels": {"io.mlendpoints.endpoint": "ep"},
                     "owns": [{"io.mlendpoints.endpoint": "ep", "io.mlendpoints.role": "node"}]}),
        ]
    )  # fmt: skip
    assert found == [
        Leftover("container", "ep-blue-0-1", LABELS),
        Leftover(
            "container",
            "ep-agent",
            {"io.mlendpoints.endpoint": "ep"},
            [{"io.mlendpoints.endpoint": "ep", "io.mlendpoints.role": "node"}],
        ),
        Leftover("network", "mle-ep", {"io.mlendpoints.endpoint": "ep"}),
    ]


def test_an_older_single_owns_label_set_is_read_as_one() -> None:
    [agent] = leftovers([_create({"name": "a", "image": "i", "labels": {}, "owns": {"k": "v"}})])
    assert agent.owns == [{"k": "v"}]


def test_what_is_not_a_container_or_network_of_ours_is_not_touched() -> None:
    assert (
        leftovers(
            [
                _create({"name": "ns", "labels": LABELS}, type_="kubernetes:core/v1:Namespace"),
                _create({"tag": "mlendpoints/serving:1", "purpose": "router"}),  # an image build
                _create({"name": "keys", "labels": LABELS, "secret": "x"}),  # unknown shape
                _create({"name": 3, "image": "i", "labels": LABELS}),
                _create({"name": "c", "image": "i", "labels": "not a dict"}),
            ]
        )
        == []
    )
