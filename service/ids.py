"""Response ids: UUIDv7 (RFC 9562) in hex, so ids sort by creation time and index well."""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> str:
    """32 hex digits: 48 bits of Unix milliseconds, the version and variant, 74 random bits."""
    ms = time.time_ns() // 1_000_000
    value = (ms & (1 << 48) - 1) << 80 | int.from_bytes(os.urandom(10)) & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # variant 10
    return uuid.UUID(int=value).hex
