"""Test driver without run()."""


def init():
    pass
