"""Instance names resolve in the control plane, so nginx never refuses to start over one of them."""

from __future__ import annotations

from serving.router.resolve import resolve_all, resolve_instance


def test_literal_addresses_pass_through():
    assert resolve_instance("10.1.2.3:5001") == ["10.1.2.3:5001"]
    assert resolve_instance("[::1]:5001") == ["[::1]:5001"]


def test_names_resolve_ipv4_first_and_once():
    assert resolve_instance("localhost:5001") == ["127.0.0.1:5001"]


def test_unresolvable_names_give_no_address():
    assert resolve_all(["no-such-host.invalid:1", "127.0.0.1:2"]) == {
        "127.0.0.1:2": ["127.0.0.1:2"],
        "no-such-host.invalid:1": [],
    }
