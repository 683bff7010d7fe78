"""Structured (JSON) logs with phone numbers and personal names redacted.

Citizens write phone numbers and names into chats and platforms send names in every update;
neither belongs in log files, so redaction happens in a filter every handler passes through.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

__all__ = ["JsonFormatter", "RedactingFilter", "redact", "setup_logging"]

REDACTED = "[redacted]"
# Fields whose values identify a person, wherever they appear in a log record's extras.
PERSONAL_KEYS = frozenset(
    {
        "first_name",
        "last_name",
        "full_name",
        "name",
        "username",
        "phone",
        "phone_number",
        "contact",
        "email",
    }
)
# Cambodian numbers (+855 / 0 prefix) and any other long digit run that looks like a phone.
_PHONE_RE = re.compile(
    r"(?<![\w])(?:\+|00)?(?:855[\s.-]?)?0?\d{2}[\s.-]?\d{3}[\s.-]?\d{3,4}(?!\w)"
)
# Secrets that can appear in access-log query strings (Messenger verification, Graph calls).
_SECRET_PARAM_RE = re.compile(r"((?:hub\.verify_token|access_token|token)=)[^&\s\"]+")
_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


def redact(value: Any, key: str | None = None) -> Any:
    """Redact personal keys and phone-like numbers, recursing into dicts and lists."""
    if key is not None and key.lower() in PERSONAL_KEYS:
        return REDACTED
    if isinstance(value, str):
        return _SECRET_PARAM_RE.sub(r"\1" + REDACTED, _PHONE_RE.sub(REDACTED, value))
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Rewrites the message and every extra field before any handler formats them."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; only its content changes."""
        record.msg = redact(record.getMessage())
        record.args = None
        for attr in set(vars(record)) - _STD_ATTRS:
            setattr(record, attr, redact(getattr(record, attr), attr))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, and the extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise the record (extras included) as a single line."""
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for attr in set(vars(record)) - _STD_ATTRS:
            data[attr] = getattr(record, attr)
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(*, json_lines: bool = True, level: int = logging.INFO) -> None:
    """Install the redacting handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_sp4all", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler._sp4all = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
