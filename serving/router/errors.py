"""The router's one error hierarchy: config, secrets, tokens and the nginx data path."""


class RouterError(Exception):
    """Base of every error the router raises on purpose."""


class ConfigError(RouterError):
    """The router config or its secrets are missing or invalid; the message names the file or field."""


class TokenError(RouterError):
    """A bearer token is malformed, forged, for another endpoint or expired."""


class NginxError(RouterError):
    """nginx refused a rendered config or could not be started."""
