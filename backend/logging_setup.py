"""Logging with a redaction filter: no token, code, verifier or password reaches a log line."""

from __future__ import annotations

import logging
import re
import sys

_PATTERNS = [
    # key=value in query strings, forms and JSON-ish text
    re.compile(
        r"(?i)((?:access_token|refresh_token|id_token|code|code_verifier|client_secret|password|"
        r"assertion|state|token|fb_exchange_token|input_token)[\"']?\s*[=:]\s*[\"']?)([^&\s\"',}]+)"
    ),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/=-]+)"),
    # JWT-shaped strings
    re.compile(r"()(eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "<redacted>", text)
    return text


class RedactingFilter(logging.Filter):
    """Formats the record, then masks anything shaped like a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not crash logging
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = redact(formatted)
        return True


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # httpx logs full request URLs at INFO; URLs may carry codes.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
