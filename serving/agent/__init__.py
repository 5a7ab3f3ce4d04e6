"""The local target's host agent: heals an endpoint's containers the way a kubelet heals pods."""
