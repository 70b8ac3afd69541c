"""JSON the browser can parse: a NaN or infinite loss becomes ``null`` (JSON has no NaN)."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.responses import JSONResponse


def clean(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (tuples become lists)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(clean(value), separators=(",", ":"), default=str)


class JSON(JSONResponse):
    """Starlette's JSON response, tolerant of NaN losses and of paths or dates in the data."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")
