"""Desktop logging: a rotating file in the log folder, with secrets masked before any output."""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from typing import Final

from desktop.config import log_dir

MASK: Final = "<redacted>"
LOG_FILE = "desktop.log"

_SENSITIVE_NAMES = (
    "code|state|access_token|refresh_token|id_token|assertion|password|client_secret|"
    "code_verifier|token"
)
_PATTERNS: Final = [
    # query strings and form bodies: code=…&state=…
    (re.compile(rf"(?i)\b({_SENSITIVE_NAMES})=([^&\s\"',;]+)"), rf"\1={MASK}"),
    # JSON: "access_token": "…"
    (
        re.compile(rf"(?i)(\"(?:{_SENSITIVE_NAMES}|private_key_pem)\"\s*:\s*\")([^\"]*)(\")"),
        rf"\1{MASK}\3",
    ),
    # Authorization: Bearer …
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*"), rf"\1 {MASK}"),
    # JWT-looking strings (header.payload.signature, base64url)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    # PEM blocks
    (re.compile(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----", re.S), MASK),
]


def redact(text: str) -> str:
    """`text` with anything that looks like a token, code or password masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Formats the message (args included) and masks it, so no handler sees the raw values."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, masked, so the formatter does not render it raw.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(verbose: bool = False) -> None:
    """Log to `<log dir>/desktop.log` (rotated) and, when verbose, to stderr too."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, "_connected_accounts", False):
            root.removeHandler(handler)
            handler.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = []
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                folder / LOG_FILE, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
            )
        )
    except OSError as exc:
        print(f"Cannot write the log file: {exc}", file=sys.stderr)
    if verbose:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(fmt)
        handler.addFilter(RedactingFilter())
        handler._connected_accounts = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # httpx logs full request URLs at INFO; they pass through the filter, but keep them quiet.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
