"""The controller's one error hierarchy; each error carries the HTTP status it is answered with."""

from __future__ import annotations


class ControllerError(Exception):
    """Base of every error the controller raises on purpose; the message is safe to show callers."""

    status = 500


class BadRequest(ControllerError):
    status = 400


class Unauthorized(ControllerError):
    status = 401


class NotFound(ControllerError):
    status = 404


class Conflict(ControllerError):
    status = 409


class PayloadTooLarge(ControllerError):
    status = 413


class ConfigError(ControllerError):
    """The config or secrets file is missing or invalid; the message names the file and field."""


class AgentError(ControllerError):
    """The endpoint's agent could not be reached or refused a node request."""

    status = 502


class MergeError(ControllerError):
    """An accepted part file could not be merged into the output file."""
