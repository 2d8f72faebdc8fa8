"""Opaque keyset cursors: where a page ended, tied to the query that made it.

A cursor is base64url JSON with a checksum. It hides nothing and needs no secret: it only lets
the service tell its own cursors from edited or foreign ones (400), and refuses one made for a
different query. Someone who forges one only moves their own position in a list they may read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Any

from service.errors import BadCursorError


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def encode(query: dict[str, Any], created_at: datetime, key: str | int) -> str:
    """The cursor after a row with this (created_at, key), for this query's filters."""
    body = json.dumps(
        {
            "q": _digest(json.dumps(query, sort_keys=True, default=str).encode()),
            "t": created_at.isoformat(),
            "k": key,
        },
        separators=(",", ":"),
    ).encode()
    return base64.urlsafe_b64encode(body + b"." + _digest(body).encode()).decode().rstrip("=")


def decode(cursor: str, query: dict[str, Any], key_type: type) -> tuple[datetime, Any]:
    """(created_at, key) from a cursor this service made for this query; else BadCursorError."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body, _, check = raw.rpartition(b".")
        if not body or check.decode() != _digest(body):
            raise ValueError("checksum")
        data = json.loads(body)
        at, key = datetime.fromisoformat(data["t"]), data["k"]
        same = data["q"] == _digest(json.dumps(query, sort_keys=True, default=str).encode())
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadCursorError("the cursor is not one this service handed out") from None
    if not isinstance(key, key_type) or at.tzinfo is None:
        raise BadCursorError("the cursor is not one this service handed out")
    if not same:
        raise BadCursorError("the cursor was made for a different query; start without one")
    return at, key
