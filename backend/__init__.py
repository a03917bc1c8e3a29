"""Connected Accounts companion backend: token vault, connect flows, reports API."""

__version__ = "0.1.0"
