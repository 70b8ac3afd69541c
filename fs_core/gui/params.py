"""Reading what a request carries, the same way on every route: a JSON body within a size limit,
a whole-number query parameter within a range, and a name made safe for a download's file name.
Each refusal is an FsUserError, which the app answers as a one-line 400."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from fs_core.errors import FsUserError

#: the largest request body accepted (a form with a complete config text is far smaller)
MAX_BODY_BYTES = 2 * 1024 * 1024


async def json_body(request: Request, limit: int = MAX_BODY_BYTES) -> Any:
    """The request's body parsed as JSON (None when empty); refused when larger than ``limit``
    bytes (by its declared length before reading, then by what arrived) or not JSON."""
    declared = request.headers.get("content-length", "0")
    if declared.isdigit() and int(declared) > limit:
        raise FsUserError(f"the request is too large ({declared} bytes)")
    body = await request.body()
    if len(body) > limit:
        raise FsUserError(f"the request is too large ({len(body)} bytes)")
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise FsUserError("the request body is not JSON") from None


def int_param(request: Request, key: str, low: int, high: int) -> int | None:
    """Query parameter ``key`` as a whole number from ``low`` to ``high``; None when absent."""
    text = request.query_params.get(key)
    if text in (None, ""):
        return None
    try:
        value = int(text)
    except ValueError:
        raise FsUserError(f"{key} must be a whole number, got {text!r}") from None
    if not low <= value <= high:
        raise FsUserError(f"{key} must be from {low} to {high}, got {value}")
    return value


def safe_file_name(name: str) -> str:
    """``name`` with anything but letters, digits, ``-``, ``_`` and ``.`` replaced, for a
    Content-Disposition file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "download"
