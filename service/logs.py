"""Logging: one JSON object per line, each with the id of the request it belongs to.

Nothing here logs request bodies, article text or keys; the openai, httpx, httpcore and aiohttp
loggers, which print request options and wire details at DEBUG, are held at WARNING whatever
the level, as are the store's database loggers (aiosqlite and SQLAlchemy echo each statement's
parameters, which carry article text). Query strings in uvicorn's access lines keep their
parameter names only (`?api_key=…`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from contextvars import ContextVar

import orjson

request_id: ContextVar[str] = ContextVar("request_id", default="-")

# Chatty at DEBUG, and they echo payloads.
_QUIET = ("openai", "httpcore", "httpx", "hpack", "aiohttp", "aiosqlite", "sqlalchemy")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
_NOT_EXTRA = frozenset(_STANDARD | {"ts", "level", "logger", "request_id"})  # the fixed fields


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


_PARAM_NAME = re.compile(r"[A-Za-z0-9_.\[\]-]{1,40}")


def redact_query(target: str) -> str:
    """A request target with every query value (and any odd-looking name) replaced by `…`."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    kept = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        kept.append(f"{name}=…" if eq and _PARAM_NAME.fullmatch(name) else "…")
    return f"{path}?{'&'.join(kept)}"


class AccessLogRedaction(logging.Filter):
    """uvicorn's access line carries the target as its third argument: redact its query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            args = list(record.args)
            if len(args) >= 3 and isinstance(args[2], str):
                args[2] = redact_query(args[2])
                record.args = tuple(args)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        entry |= {k: v for k, v in vars(record).items() if k not in _NOT_EXTRA}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=str).decode()
        except TypeError:  # what orjson refuses (a lone surrogate, an int past 64 bits) json takes
            return json.dumps(entry, default=str, ensure_ascii=False)


def configure(level: str = "INFO", fmt: str = "json") -> dict[str, object]:
    """Set up the root logger, and return a uvicorn log config that routes through it."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.addFilter(AccessLogRedaction())
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(request_id)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # No line shows the caller's file, line, thread or process: the logging module's documented
    # switches stop it looking them up for every record (a walk up the stack and three lookups).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # uvicorn's own loggers propagate to ours instead of keeping their own handlers.
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
