"""The scorer's version string, sent as x-ms-server-version."""

SERVER_VERSION = "mlendpoints-scorer/0.1.0"
