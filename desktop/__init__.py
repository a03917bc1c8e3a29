"""Connected Accounts desktop app (PySide6) and command line."""

__version__ = "0.1.0"
