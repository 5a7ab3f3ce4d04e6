"""Pulumi mocks for unit tests: record every resource, fail on any invoke nobody declared."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pulumi


def set_mocks(mocks: pulumi.runtime.Mocks, project: str, stack: str) -> None:
    """pulumi.runtime.set_mocks on the thread's event loop, made first when there is none: a test that
    ran asyncio.run() before leaves the main thread without one, and the mocks would raise
    "There is no current event loop" (seen when tests/serving ran before tests/components)."""
    policy = asyncio.get_event_loop_policy()
    try:
        policy.get_event_loop()
    except RuntimeError:
        policy.set_event_loop(policy.new_event_loop())
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False)


@dataclass
class Registered:
    """One resource the program registered."""

    type_: str
    name: str
    inputs: dict[str, Any]
    urn: str


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Records resources; answers declared invokes only, so an unexpected provider call fails the test."""

    invokes: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: list[Registered] = field(default_factory=list)
    # (type, name) of a resource -> (type, name) of its parent, recorded by a stack transform.
    parents: dict[tuple[str, str], tuple[str, str] | None] = field(default_factory=dict)

    def record_parent(self, args: pulumi.ResourceTransformationArgs) -> None:
        parent = args.opts.parent
        key = (args.type_, args.name)
        self.parents[key] = None if parent is None else (parent._type, parent._name)

    def track_parents(self) -> None:
        """Call first inside a @pulumi.runtime.test function (transformations need the root stack).

        Legacy transformations run inside the SDK; the newer transforms need an engine callback server,
        which mocks do not have.
        """

        def record(args: pulumi.ResourceTransformationArgs) -> None:
            self.record_parent(args)

        pulumi.runtime.register_stack_transformation(record)

    def parent_of(self, name: str) -> tuple[str, str] | None:
        [key] = [k for k in self.parents if k[1] == name]
        return self.parents[key]

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(
            Registered(
                type_=args.typ,
                name=args.name,
                inputs=dict(args.inputs),
                urn=f"urn:pulumi:test::mlendpoints::{args.typ}::{args.name}",
            )
        )
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token not in self.invokes:
            raise AssertionError(f"unexpected invoke {args.token} with {dict(args.args)}")
        return self.invokes[args.token], None

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type_ == type_]

    def named(self, name: str) -> Registered:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, got {[r.name for r in self.resources]}"
        return found[0]
