"""The frames between the controller and its audio worker process.

A frame is a JSON header and an optional binary payload (raw int16 samples), each
preceded by its length as 4 bytes, big-endian. Small and strict: a frame that does not
parse ends the link (the controller restarts the worker; the worker exits).
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

MAX_HEADER = 1 << 20
MAX_PAYLOAD = 1 << 28
_LEN = struct.Struct(">I")


class WireError(Exception):
    """A frame on the audio worker's link is malformed."""


def encode(header: dict[str, Any], payload: bytes = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return _LEN.pack(len(head)) + head + _LEN.pack(len(payload)) + payload


def _exact(stream: BinaryIO, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(stream: BinaryIO) -> tuple[dict[str, Any], bytes] | None:
    """The next frame from a blocking stream, or None at the end of the stream."""
    raw = _exact(stream, 4)
    if raw is None:
        return None
    (size,) = _LEN.unpack(raw)
    if size > MAX_HEADER:
        raise WireError(f"header of {size} bytes")
    head = _exact(stream, size)
    raw = _exact(stream, 4) if head is not None else None
    if head is None or raw is None:
        return None
    (size,) = _LEN.unpack(raw)
    if size > MAX_PAYLOAD:
        raise WireError(f"payload of {size} bytes")
    payload = _exact(stream, size) if size else b""
    if payload is None:
        return None
    try:
        header = json.loads(head)
    except ValueError as exc:
        raise WireError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise WireError("header is not an object")
    return header, payload


async def read_frame_async(reader) -> tuple[dict[str, Any], bytes] | None:
    """The same from an asyncio StreamReader."""
    import asyncio

    try:
        (size,) = _LEN.unpack(await reader.readexactly(4))
        if size > MAX_HEADER:
            raise WireError(f"header of {size} bytes")
        head = await reader.readexactly(size)
        (size,) = _LEN.unpack(await reader.readexactly(4))
        if size > MAX_PAYLOAD:
            raise WireError(f"payload of {size} bytes")
        payload = await reader.readexactly(size) if size else b""
    except asyncio.IncompleteReadError:
        return None
    try:
        header = json.loads(head)
    except ValueError as exc:
        raise WireError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise WireError("header is not an object")
    return header, payload
