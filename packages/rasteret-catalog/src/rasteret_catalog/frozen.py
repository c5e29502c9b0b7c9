"""``FrozenMap``: an immutable, hashable mapping for values held by frozen dataclasses.

Nested JSON-like values (a STAC ``query`` such as ``{"eo:cloud_cover": {"lt": 10}}``) are hashed
through a frozen copy, so a spec holding one stays hashable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["FrozenMap", "freeze"]

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V], Generic[K, V]):
    """A read-only mapping that hashes by value (insertion order kept, not part of equality).

    It compares equal to any mapping with the same items (``FrozenMap({"a": 1}) == {"a": 1}``),
    so code written against plain dicts keeps working; ``dict(m)`` gives a mutable copy.
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[K, V] | None = None) -> None:
        self._data: dict[K, V] = dict(data or {})
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(_hashable(self._data))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._data,))


def _hashable(value: Any) -> Any:
    """A hashable stand-in for nested JSON-like values (dicts, lists, sets)."""
    if isinstance(value, Mapping):
        return frozenset((k, _hashable(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, set | frozenset):
        return frozenset(_hashable(v) for v in value)
    return value


def freeze(data: Mapping[K, V] | None) -> FrozenMap[K, V] | None:
    """``data`` as a :class:`FrozenMap` (``None`` stays ``None``; a FrozenMap is returned as is)."""
    if data is None or isinstance(data, FrozenMap):
        return data
    return FrozenMap(data)
