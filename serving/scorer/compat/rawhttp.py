"""The @rawhttp marker, kept free of werkzeug so loading a script does not import it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

# A marker attribute instead of Azure ML's module-level flag: the scorer reads it from run() itself.
RAWHTTP_ATTR = "_aml_rawhttp"


def rawhttp(func: _F) -> _F:
    """Ask the scorer to call run() with the HTTP request (an AMLRequest) instead of the parsed body."""
    with contextlib.suppress(AttributeError, TypeError):
        setattr(func, RAWHTTP_ATTR, True)
    return func


def is_rawhttp(func: Callable[..., Any]) -> bool:
    """True when run(), or anything it wraps, was decorated with @rawhttp."""
    current: Any = func
    for _ in range(32):
        if current is None:
            return False
        if getattr(current, RAWHTTP_ATTR, False) is True:
            return True
        current = getattr(current, "__wrapped__", None)
    return False
