"""Structured logging for the sensor, with credentials redacted from every line.

Camera URLs often carry ``user:password@`` or ``?password=`` parts; the formatter redacts the whole
formatted line (message, arguments and traceback), so no code path can leak them by accident.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_SECRET_PARAMS = re.compile(
    r"(?P<name>[?&;](?:user(?:name)?|pass(?:word|wd)?|pwd|token|auth|key|secret|sig(?:nature)?)=)[^&;\s#]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """Replace credentials in any URL inside ``text`` with ``***``."""
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    return _SECRET_PARAMS.sub(r"\g<name>***", text)


class RedactingFormatter(logging.Formatter):
    """Plain text lines, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` context fields, redacted."""

    _STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | type(None)) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False))


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Route every logger through one redacting handler on stderr (replaces earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
