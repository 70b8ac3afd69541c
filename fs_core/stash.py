"""Per-run memory that plugins keep on the training session, typed by key.

A reporting plugin remembers things between hooks (a writer it opened, when it last printed). Each
keeps them under its own :class:`StashKey`, whose type parameter says what is stored there, so
``session.stash[KEY]`` has a real type where a plain dict would give ``Any``, and two plugins
cannot collide on a string::

    LAST_PRINTED: StashKey[float] = StashKey("last printed")
    session.stash[LAST_PRINTED] = time.monotonic()
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")
D = TypeVar("D")


class StashKey(Generic[T]):
    """A key of a :class:`Stash`; keys compare by identity, ``name`` is for messages."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"StashKey({self.name!r})"


class Stash:
    """A mapping from :class:`StashKey` to values of the key's type."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: dict[StashKey[Any], object] = {}

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        self._items[key] = value

    def __getitem__(self, key: StashKey[T]) -> T:
        return cast(T, self._items[key])

    def __delitem__(self, key: StashKey[T]) -> None:
        del self._items[key]

    def __contains__(self, key: StashKey[T]) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: StashKey[T], default: D) -> T | D:
        return cast(T, self._items[key]) if key in self._items else default

    def setdefault(self, key: StashKey[T], default: T) -> T:
        return cast(T, self._items.setdefault(key, default))

    def pop(self, key: StashKey[T], default: D) -> T | D:
        return cast(T, self._items.pop(key)) if key in self._items else default
