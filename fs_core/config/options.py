"""Declaring options: one attrs field per option, carrying its help, allowed values and lock flag.

Every configurable class in fs (the core's sections and each plugin's ``[model.<name>]`` section)
is an attrs class whose fields come from :func:`option`. The TOML writer reads the metadata to
print each option with its help and allowed values; the reader validates through attrs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

LOCKED = "fs_locked"


def _check(default: Any, choices: Iterable[Any] | None, minimum: Any, maximum: Any):
    kind = type(default)
    allowed = tuple(choices) if choices is not None else None

    def validate(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false, got {value!r}")
        elif kind in (int, float):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (kind is int and not isinstance(value, int))
            ):
                raise ValueError(
                    f"must be {'a whole number' if kind is int else 'a number'}, got {value!r}"
                )
        elif kind is str and not isinstance(value, str):
            raise ValueError(f"must be a string, got {value!r}")
        if allowed is not None and value not in allowed:
            raise ValueError(f"must be one of {', '.join(map(str, allowed))}; got {value!r}")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum}, got {value!r}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum}, got {value!r}")

    return validate


def _to_float(value: Any) -> Any:
    """TOML writes 100 for 100.0; accept whole numbers for float options."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def option(
    default: Any,
    help: str,
    *,
    choices: Iterable[Any] | None = None,
    min: Any = None,
    max: Any = None,
    locked: bool = False,
    converter: Callable[[Any], Any] | None = None,
    validator: Callable[[Any, attrs.Attribute, Any], None] | None = None,
) -> Any:
    """An option with its default, one-line ``help``, allowed ``choices`` or ``min``/``max`` range.

    ``locked`` options are stored in the model state when a model is created and win on resume.
    ``converter`` and ``validator`` replace the ones made from the default's type and the
    choices/range, for values those cannot describe (a list of part names, say: a converter taking
    one name or a list, a validator checking each name against ``choices``); the option keeps the
    same metadata, so ``fs config`` shows its help, choices and lock as for any other.
    """
    choices = tuple(choices) if choices is not None else None
    if converter is None and isinstance(default, float):
        converter = _to_float
    return attrs.field(
        default=default,
        converter=converter,
        validator=validator if validator is not None else _check(default, choices, min, max),
        metadata={"help": help, "choices": choices, "min": min, "max": max, LOCKED: locked},
    )


def is_locked(field: attrs.Attribute) -> bool:
    return bool(field.metadata.get(LOCKED, False))


def allowed_text(field: attrs.Attribute) -> str:
    """What values a field accepts, for help comments and error messages."""
    meta = field.metadata
    if meta.get("choices"):
        return "one of " + ", ".join(str(c) for c in meta["choices"])
    low, high = meta.get("min"), meta.get("max")
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"at least {low}"
    if high is not None:
        return f"at most {high}"
    if isinstance(field.default, bool):
        return "true or false"
    return type(field.default).__name__
